"""`python -m survey_app` is the same as the `survey-app` command."""

from survey_app.cli import main

main()
