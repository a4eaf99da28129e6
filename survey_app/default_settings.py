"""Committed defaults. No secrets here: SECRET_KEY comes from the environment, instance/config.py,
or a key generated once into instance/secret_key.

Every setting can be overridden in instance/config.py or by an environment variable named
SURVEY_APP_<SETTING> (values are parsed as JSON when they can be, so "true" and "25" work).
"""

# "production" makes startup refuse a configuration without a configured SECRET_KEY, with
# DEBUG on, or with a plain-http BASE_URL.
DEPLOYMENT = "development"

# Database: None means a SQLite file in the instance folder (see survey_app.db_config).
DATABASE_URL = None
SQLALCHEMY_ENGINE_OPTIONS: dict = {}

# The public address of this deployment, used for every link in emails. Never taken from a
# request's Host header, which an attacker controls.
BASE_URL = "http://127.0.0.1:5000"

# Celery broker; None runs jobs inline in the calling process.
BROKER_URL = None

# Mail: "outbox" writes each message as an .eml file into MAIL_OUTBOX_DIR (default
# instance/outbox); "smtp" delivers through the SMTP settings below.
MAIL_BACKEND = "outbox"
MAIL_OUTBOX_DIR = None
MAIL_DEFAULT_SENDER = "RijdNu klantenservice <survey@example.com>"
SMTP_HOST = "localhost"
SMTP_PORT = 25
SMTP_SECURITY = "none"  # "none", "starttls" or "ssl"
SMTP_USERNAME = None
SMTP_PASSWORD = None
SMTP_TIMEOUT = 30

# Sending: invitations claimed (and sent over one SMTP connection) at a time; an optional cap on
# messages per minute over all workers; tries per message for transient failures, with
# exponential backoff from MAIL_RETRY_BASE_SECONDS; after MAIL_MAX_SEND_ATTEMPTS tries over all
# runs an invitation fails; a claim older than MAIL_CLAIM_TIMEOUT_SECONDS is taken over.
MAIL_BATCH_SIZE = 100
MAIL_RATE_LIMIT_PER_MINUTE = None
MAIL_RETRY_ATTEMPTS = 4
MAIL_RETRY_BASE_SECONDS = 2.0
MAIL_MAX_SEND_ATTEMPTS = 12
MAIL_CLAIM_TIMEOUT_SECONDS = 900
# Reminders, in days after the invitation: at most two.
REMINDER_DAYS = [3, 7]
CELERY_QUEUE = "survey_app"

# Languages offered to customers; the first is the fallback.
LANGUAGES = ["nl", "en"]
BABEL_DEFAULT_LOCALE = "nl"
BABEL_DEFAULT_TIMEZONE = "Europe/Amsterdam"

# Survey defaults (campaigns may override some of them).
CONVERSION_WINDOW_HOURS = 72
CONTACT_FREQUENCY_DAYS = 90
INVITATION_EXPIRY_DAYS = 14

# Event ingestion: the largest webhook batch, how far a signed timestamp may be off, and the
# zone of export dates that carry no offset.
WEBHOOK_MAX_BATCH = 1000
WEBHOOK_TIMESTAMP_TOLERANCE = 300
EVENTS_DEFAULT_TIMEZONE = "Europe/Amsterdam"
# The import page keeps each user's latest rejected rows for download this many hours (0: none).
IMPORT_REJECTS_KEEP_HOURS = 24

# Campaign verdicts: flag when the Wilson lower bound of the share of respondents reporting a
# broken promise is above the threshold, given at least this many respondents.
VERDICT_THRESHOLD = 0.10
VERDICT_MIN_RESPONDENTS = 5
# A new answer refreshes its campaign's verdict at most this often; a scheduled
# `survey-app analyze` recomputes any verdict older than the campaign's newest analysis.
VERDICT_REFRESH_SECONDS = 60

# Web security.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = False  # turned on automatically when BASE_URL is https
REMEMBER_COOKIE_HTTPONLY = True
REMEMBER_COOKIE_SAMESITE = "Lax"
# Session-bound tokens without an expiry: a page left open still submits. The survey form's token
# is bound to its link instead, and needs no session (forms/survey.py).
WTF_CSRF_TIME_LIMIT = None
MAX_CONTENT_LENGTH = 20 * 1024 * 1024

# Rate limits (Flask-Limiter). Counters live in memory per process unless a shared storage is
# configured, e.g. "redis://127.0.0.1:6379/1" when several workers serve the app.
RATELIMIT_STORAGE_URI = "memory://"
RATELIMIT_ENABLED = True
RATELIMIT_HEADERS_ENABLED = True
# Survey link lookups per client address: all requests, and the smaller budget of lookups that
# found no usable link (after which good links get 429 too, which stops token guessing).
SURVEY_RATE_LIMIT = "60 per minute"
SURVEY_BAD_LINK_RATE_LIMIT = "10 per minute"
# Failed sign-ins allowed per client address and per account (successful ones do not count).
LOGIN_RATE_LIMIT_PER_ADDRESS = "20 per minute; 100 per hour"
LOGIN_RATE_LIMIT_PER_EMAIL = "5 per minute; 20 per hour"
# How many reverse proxies in front of the app set X-Forwarded-For / -Proto (0: none trusted).
PROXY_FIX_X_FOR = 0

# Privacy: after how many days comments are anonymised and the personal data of people who
# never answered is erased (`survey-app purge`; 0 or None keeps them). The suppression list's
# keyed hashes use SUPPRESSION_KEY, or SECRET_KEY when unset: changing it empties the list.
RETENTION_COMMENT_DAYS = 365
RETENTION_NONRESPONDENT_DAYS = 180
SUPPRESSION_KEY = None
# Your own privacy statement for the survey's privacy page, per language, as plain text with
# blank lines between paragraphs, e.g. {"nl": "...", "en": "..."}; None shows the built-in text.
PRIVACY_TEXT = None

# Logging: "text" or "json". Email addresses and survey tokens are masked in every record.
LOG_FORMAT = "text"
LOG_LEVEL = "INFO"
