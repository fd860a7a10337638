"""Deployment steps: rollouts, rollbacks, blue-green, canary (with its analysis), checklists."""
