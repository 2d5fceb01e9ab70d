"""The harness's built-in graders, registered through the `harness.graders` entry points."""
