"""The simulated NOA Server: a small process exposing NOA's metrics for Prometheus to scrape.

``python -m noa_sandbox.simulator --port P --state FILE`` serves ``/metrics`` (the contract in
:mod:`.families`) for the pods api-0..2, worker-0..1 and web-0, with daily/weekly traffic
(:mod:`.model`) and the effects of the scenario named in the world file (:mod:`.spec`,
:mod:`.scenarios`), re-read every second. :mod:`.world` is the live world model (pods, versions,
scenario effects, every series' value); :mod:`.exporter` the process around it; :mod:`.service`
starts and checks it from ``noa sandbox up``. The cluster under it — cAdvisor, the kubelets'
volume stats and node-exporter per node, on paths of their own — is :mod:`.infra` (state) and
:mod:`.exporters` (families), from the containers, nodes and volumes of the world file.

The same model feeds the history backfill (:mod:`noa_sandbox.history`), so live data continues
the backfilled trend.
"""
