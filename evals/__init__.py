"""Agent evaluation kit: natural-language tasks on the sandbox, an agent-facing CLI, scorers and a report."""
