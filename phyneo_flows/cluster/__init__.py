"""Running flows on a cluster: FireWorks (LaunchPad + qlaunch) or jobflow-remote, on Slurm, with MongoDB.

``config`` reads the cluster config file; ``plan`` lists the jobs of a flow with their resources;
``fireworks_route`` and ``jobflow_remote_route`` submit and run; ``cli`` holds ``phyneo submit`` and
``phyneo cluster ...``.
"""
