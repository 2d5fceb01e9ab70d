"""An example third-party provider: answers without a network or weights.

It refuses prompts that contain one of `refuse_on` and otherwise echoes the prompt after
`prefix`: enough for a whole `harness run` whose graders have something to decide.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from harness.config import ModelSpec
from harness.providers import ChatRequest, ProviderOptions, Reply, Usage, provider

__all__ = ["EchoOptions", "EchoProvider"]


class EchoOptions(ProviderOptions):
    prefix: str = Field("Sure, here it is: ", description="put before the echoed prompt")
    refuse_on: list[str] = Field(default_factory=list, description="words that make it refuse")


@provider("echo")
class EchoProvider:
    Options = EchoOptions
    remote = False  # no base_url, api_key_env or rpm; `model` is optional

    @classmethod
    def from_spec(
        cls, spec: ModelSpec, *, api_key: str | None, base_dir: Path, name: str
    ) -> EchoProvider:
        options = spec.options
        assert isinstance(options, EchoOptions)
        return cls(options)

    def __init__(self, options: EchoOptions) -> None:
        self._options = options

    async def complete(self, request: ChatRequest) -> Reply:
        prompt = str(request.messages[-1]["content"])
        if any(word in prompt for word in self._options.refuse_on):
            text = "I'm sorry, but I cannot help with that."
        else:
            text = self._options.prefix + prompt
        return Reply(text, "stop", Usage(len(prompt.split()), len(text.split())))

    async def aclose(self) -> None:
        return None
