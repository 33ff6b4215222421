"""Stored documents of the fitting stage."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from phyneo_flows.schemas import StageDocument


class FitDocument(StageDocument):
    """One physics (Slater short-range) fit: parameters, split, errors per pair type and parity plots.

    ``pairs``: {pair type: {n_train, n_test, n_test_scored, test_rmse_kj_mol, physics_only_test_rmse_kj_mol}}
    (kJ/mol, RMSE of the total over the scored held-out points). ``metrics``: {split: {pair type:
    {component: {rmse, mae, max}}}}. ``split``: {split: {pair type: [scan numbers]}}.
    """

    stage: str = "fit"
    kind: str = "physics"
    method: str = Field("sapt0/jun-cc-pvdz", description="reference level of the dimers")
    n_dimers: int = 0
    pairs: dict[str, dict[str, Any]] = {}
    metrics: dict[str, dict[str, dict[str, Any]]] = {}
    long_range_check: dict[str, Any] = {}
    split: dict[str, dict[str, list[int]]] = {}
    fitted_molecules: list[str] = []
    frozen_molecules: list[str] = []
    reused_molecules: list[str] = Field([], description="molecules whose fitted parameters were reused as they were")
    settings: dict[str, Any] = {}
    params: dict[str, Any] = Field(description="the fitted phyneo-ff parameter file (JSON)")
    parity_png: dict[str, str] = Field({}, description="split -> base64 PNG parity plot (data store)")
