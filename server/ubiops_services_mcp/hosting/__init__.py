"""Hosting: the HTTP transport and what serving it to a team needs (bearer and OAuth gates, sessions, probes,
metrics endpoint, JSON logs). Loaded only for `--transport http`: stdio never imports it."""
