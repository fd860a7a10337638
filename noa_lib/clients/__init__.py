"""Backend clients: the only modules that import SDKs (psycopg, boto3, prometheus_api_client,
kubernetes).

One module per backend (``postgres``, ``s3``, ``prometheus``, ``kubernetes``), imported lazily by
the ops that need them. Each builds its client from a settings dataclass of
:mod:`noa_lib.config`, resolving secret references only there; applies timeouts by default; and
maps SDK exceptions to :mod:`noa_lib.errors` through its ``mapped_errors`` context manager, with
messages scrubbed of secrets and cut to one short line (:mod:`noa_lib.clients._errors`).
"""
