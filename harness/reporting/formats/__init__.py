"""The built-in report formats, one module each; each registers through the `harness.reporters`
entry-point group in pyproject.toml, as a third-party format does. Nothing is imported here:
`harness report` imports only the format it is asked for."""
