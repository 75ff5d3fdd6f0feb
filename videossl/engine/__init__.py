"""Training, evaluation and job orchestration."""
