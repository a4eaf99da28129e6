"""gunicorn settings for survey_app behind one reverse proxy (see docs/production.md).

    gunicorn -c /etc/survey_app/gunicorn.conf.py 'survey_app:create_app()'

Every value can be changed without editing this file through the environment variables read
below (GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_TIMEOUT).
"""

import multiprocessing
import os

# Loopback only: the reverse proxy is the one public entry point.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Threaded workers: a request mostly waits on PostgreSQL, so threads are cheap concurrency, and
# each worker process is one SQLAlchemy pool (pool_size 5 + max_overflow 10 >= threads).
# Processes: about two per core; threads: 4 per process.
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))

# A request that takes longer than this is killed (and its transaction with it).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
# Queue for connections no thread has taken yet (bursts of respondents).
backlog = 2048

# Recycle workers now and then, spread out so they do not all restart at once.
max_requests = 2000
max_requests_jitter = 200

# Each worker builds its own app: no database pool, rate-limit storage or thread is shared
# across the fork.
preload_app = False

# The proxy sets X-Forwarded-*; the app trusts exactly one hop (SURVEY_APP_PROXY_FIX_X_FOR=1),
# so gunicorn itself need not interpret them.
forwarded_allow_ips = "127.0.0.1"

# Logs to stderr (journald keeps them). The access line carries the request id the app echoes
# in X-Request-ID; paths are masked (tokens) by the app's logging filter.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
