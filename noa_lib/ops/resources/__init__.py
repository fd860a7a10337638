"""Resource incidents: containers OOM-killed (:mod:`.oom`) and volumes filling (:mod:`.disk`).

Each runbook diagnoses read-only (Prometheus' cAdvisor, kube-state-metrics and kubelet series,
the Kubernetes API), decides with pure rules (:mod:`.oom_rules`, :mod:`.disk_rules`) and builds a
:class:`~noa_lib.ops.mitigation.Mitigation` (:mod:`.oom_plan`, :mod:`.disk_plan`) that
:func:`~noa_lib.ops.mitigation.run_mitigation` applies, verifies and reverts.
"""
