"""The sandbox's Kubernetes API server and the simulated cluster behind it.

No real kube-apiserver can run here, so the sandbox serves the Kubernetes API itself (stdlib
HTTP, no SDK), and the library talks to it with the official ``kubernetes`` client exactly as to
a real cluster.

API server (this package's API side): ``resources`` (served types), ``store`` (objects,
resourceVersions, watch, change feed; its parts: ``objects`` (copies, keys, Scale view),
``table`` (objects and resourceVersion counter), ``writechecks`` + ``writes`` (what each write
checks and does), ``changefeed`` (change log, subscribers, watch streams)), ``snapshot``
(persistence), ``validation`` (422s and defaults), ``selectors``, ``patches``
(JSON/merge/strategic merge), ``errors`` (``ApiError`` -> ``Status``), ``routes``, ``discovery``,
``auth`` (bearer tokens, admin/view), ``requestlog``, ``faults`` (test fault injection),
``messages`` + ``server`` (HTTP), ``workloads`` (pod logs, proxy, registry), ``hooks`` (what
the server asks of the cluster), ``quantity`` (Kubernetes quantities as numbers), ``__main__``
(``python -m noa_sandbox.kube --port P --state-dir DIR [--world FILE] [--metrics-port M]``).

kube-state-metrics (the metrics port): ``ksm`` (the renderer and its server), ``ksmpods`` (pod
families), ``ksmkit`` (what they share), ``cron`` (a CronJob's next fire).

Cluster side (controllers, pods, logs, registry): ``cluster`` and the modules it uses
(``controller`` — the reconcile loop, delegating to ``deployments`` (+ ``deploystatus``),
``replicasets``, ``pods`` (pod creation and scheduling), ``jobs`` and ``autoscalers``, with
``controlkit`` for what they share — ``rollout``, ``kubelet``, ``nodes`` (the Node objects and
the scheduler's fit), ``seed``, ``podlogs``, ``behaviour``, ``worldsync`` (+ ``worldinfra``: the
containers, nodes and volumes the simulator's exporters publish), ``registry``).

Why our own server rather than kmock (evaluated first): kmock 0.8's ``KubernetesEmulator``
ignores label and field selectors, replaces whole lists on a strategic-merge patch (sidecars are
lost: exactly the patch ``rolling_update`` sends), cannot serve ``/api/v1/namespaces``, answers
PUT with 404, returns pod logs as JSON, drops watch events, and keeps no uid, resourceVersion,
creationTimestamp or status — so conflicts (409 on a stale resourceVersion) and rollout status,
which the deployment runbooks depend on, could not be real. Subclassing it to fix each gap left
little of it, on an asyncio stack the rest of the sandbox does not use; a small threaded stdlib
server whose every answer is checked against the official client and the 1.30 OpenAPI schemas
(``tests/kubeapi``, ``tests/sandbox_kube/test_schemas.py``) was the sounder base.
"""

from __future__ import annotations

from noa_sandbox.kube.errors import ApiError
from noa_sandbox.kube.hooks import Hooks, LogQuery, ProxyRequest, ProxyResponse
from noa_sandbox.kube.store import Store

__all__ = ["ApiError", "Hooks", "LogQuery", "ProxyRequest", "ProxyResponse", "Store"]
