"""The sales playbook on top of a plan: quality, reps, goals, cadence, comparison, optimisation."""
