"""llama-cpp-python's `Llama`, made cheaper for the harness's traffic, its guarantees unchanged.

Imported by the worker process only (it imports llama_cpp). Two changes:

- **Grammar after sampling.** llama-cpp-python puts the grammar first in its sampler chain, so
  every token checks the grammar against the whole vocabulary: 262k candidates for Gemma, about
  half the time of a token on one core. Like llama.cpp's own sampler (`common_sampler_sample`,
  used by llama-server and llama-cli), this one samples without the grammar, checks only the
  sampled token against it, and samples again from the grammar-masked candidates only if the
  grammar rejects it. Every emitted token is still checked and accepted by the grammar, so the
  guarantee is the same, and at temperature 0 (greedy: the demo's models, local judges) the
  reply is identical, token for token (the most likely token is kept exactly when the grammar
  allows it). Above temperature 0 llama-cpp-python's own chain is kept: the draws would differ,
  and with them the replies a seed gives.
- **Saved prefixes.** llama-cpp-python reuses the KV cache only for the prefix a prompt shares
  with the one before it. The harness interleaves deployments item by item (raw, system prompt,
  tools, ...), so each deployment's long shared prefix (system prompt, tool instructions) would
  be evaluated again on every item. Before a context is overwritten, its state is kept (a few
  MB for these lengths), and a later prompt that shares a longer prefix with a kept state than
  with the live context starts from that state instead. The reply is the one the prompt gets
  after that state without a break (tested), so the same as evaluated from scratch up to float
  rounding (where the cells sit in the cache), as with llama-cpp-python's own prefix reuse.
  A context whose sliding-window layers dropped early cells is never reused for a shorter
  prefix: it would attend to cells that are gone (llama-server makes the same check).
"""

from __future__ import annotations

import ctypes
import math
from collections import OrderedDict
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from llama_cpp import Llama
from llama_cpp import _internals as internals
from llama_cpp import llama_cpp as native

__all__ = ["GrammarAfterSampling", "HarnessLlama", "SavedPrefixes"]

# a kept state is worth restoring only if it spares at least this many tokens of evaluation
MIN_SAVED_TOKENS = 32
# kept states: one per distinct long prefix (system prompt, tool instructions) in a run
MAX_SAVED_STATES = 8


class GrammarAfterSampling:
    """A sampler that applies the grammar only when the freely sampled token breaks it.

    `chain` is the sampler chain without the grammar; `grammar` a chain holding only the
    grammar sampler. Quacks like llama-cpp-python's `LlamaSampler` where `Llama` uses it.
    """

    def __init__(self, chain: Any, grammar: Any, n_vocab: int) -> None:
        self._chain = chain
        self._grammar = grammar
        self._n_vocab = n_vocab
        self._candidates = internals.LlamaTokenDataArray(n_vocab=n_vocab)
        self._one = (native.llama_token_data * 1)()
        self._one_array: Any = native.llama_token_data_array(
            data=ctypes.cast(self._one, native.llama_token_data_p), size=1, selected=-1
        )

    def sample(self, ctx: Any, idx: int = -1) -> int:
        pointer = native.llama_get_logits_ith(ctx.ctx, idx)
        if not pointer:
            raise RuntimeError(f"llama.cpp has no logits for output {idx}")
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        token = self._pick(logits, masked=False)
        if not self._allowed(token, float(logits[token])):
            token = self._pick(logits, masked=True)
        self._grammar.accept(token)
        self._chain.accept(token)
        return token

    def _pick(self, logits: Any, *, masked: bool) -> int:
        candidates = self._candidates
        candidates.copy_logits(logits)
        array: Any = candidates.candidates
        # samplers may move `data` (llama.h); it is set again for every pick
        array.data = candidates.candidates_data.ctypes.data_as(native.llama_token_data_p)
        array.selected = -1
        if masked:
            native.llama_sampler_apply(self._grammar.sampler, ctypes.byref(array))
        native.llama_sampler_apply(self._chain.sampler, ctypes.byref(array))
        if not 0 <= array.selected < array.size:
            raise RuntimeError("the sampler chain selected no token")
        return int(array.data[array.selected].id)

    def _allowed(self, token: int, logit: float) -> bool:
        self._one[0] = native.llama_token_data(token, logit, 0.0)
        self._one_array.data = ctypes.cast(self._one, native.llama_token_data_p)
        self._one_array.size = 1
        self._one_array.selected = -1
        self._one_array.sorted = False
        native.llama_sampler_apply(self._grammar.sampler, ctypes.byref(self._one_array))
        return not math.isinf(self._one[0].logit)

    def accept(self, token: int) -> None:
        self._grammar.accept(token)
        self._chain.accept(token)

    def reset(self) -> None:
        self._grammar.reset()
        self._chain.reset()

    def close(self) -> None:
        self._grammar.close()
        self._chain.close()


class _State:
    """One kept context: its tokens and its sequence's KV cache."""

    def __init__(self, tokens: tuple[int, ...], data: bytes, pos_min: int) -> None:
        self.tokens = tokens
        self.data = data
        self.pos_min = pos_min


def _shared(a: Sequence[int] | npt.NDArray[np.intc], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(differ[0]) if differ.size else n


def _distinct(tokens: Sequence[int] | npt.NDArray[np.intc], shared: int) -> bool:
    """Worth keeping apart from a context it shares `shared` tokens with: less than half."""
    return len(tokens) >= MIN_SAVED_TOKENS and 2 * shared < len(tokens)


class SavedPrefixes:
    """The kept states of one `Llama`, one per lineage of prompts, least recently used first."""

    def __init__(self, llama: Llama, capacity: int = MAX_SAVED_STATES) -> None:
        self._llama: Any = llama  # llama-cpp-python leaves some of its methods untyped
        self._capacity = capacity
        self._states: OrderedDict[tuple[int, ...], _State] = OrderedDict()
        self.restored = 0  # tokens not evaluated thanks to kept states (for benchmarks)
        self._n_swa = int(native.llama_model_n_swa(llama.model))

    def __len__(self) -> int:
        return len(self._states)

    def prepare(self, tokens: Sequence[int]) -> None:
        """Before `tokens` are evaluated: keep the live context if it is about to be
        overwritten, and start from a kept state if it shares more with `tokens`."""
        llama = self._llama
        live = llama.input_ids[: llama.n_tokens]
        live_shared = _shared(live, tokens)
        live_min = self._pos_min()
        truncated = live_shared < llama.n_tokens
        if truncated and not self._reusable(live_min, live_shared):
            # the window dropped cells the shorter prefix needs: llama-cpp-python would reuse
            # it anyway, so the prompt is evaluated from scratch instead (as llama-server does)
            llama.reset()
            live_shared = 0
        best: _State | None = None
        best_shared = live_shared
        for state in self._states.values():
            shared = _shared(state.tokens, tokens)
            if shared > best_shared and self._reusable(state.pos_min, shared):
                best, best_shared = state, shared
        # the live context goes on as the next one when the prompt shares most of it
        if truncated and live_min <= 0 and _distinct(live, live_shared):
            self._keep(tuple(int(t) for t in live), live_min)
        if best is not None and best_shared >= live_shared + MIN_SAVED_TOKENS:
            self._restore(best)
            self.restored += best_shared - live_shared

    def _pos_min(self) -> int:
        """The first position the live context still holds (-1 when it is empty)."""
        memory = native.llama_get_memory(self._llama.ctx)
        return -1 if memory is None else int(native.llama_memory_seq_pos_min(memory, 0))

    def _reusable(self, pos_min: int, shared: int) -> bool:
        """Whether a context starting at `pos_min` may continue after `shared` tokens: a
        sliding-window cache drops early cells, which tokens near the start still attend to."""
        return pos_min <= max(0, shared - self._n_swa)

    def _keep(self, tokens: tuple[int, ...], pos_min: int) -> None:
        ctx = self._llama.ctx
        size = native.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = native.llama_state_seq_get_data(ctx, buffer, size, 0)
        if not written:
            return
        # a kept state that shares most of its tokens with this one is of the same lineage
        # (the same system prompt or tools, another item): the newer one replaces it
        for old in [k for k in self._states if not _distinct(k, _shared(k, tokens))]:
            del self._states[old]
        self._states[tokens] = _State(tokens, bytes(buffer[:written]), pos_min)
        while len(self._states) > self._capacity:
            self._states.popitem(last=False)

    def _restore(self, state: _State) -> None:
        llama = self._llama
        buffer = (ctypes.c_uint8 * len(state.data)).from_buffer_copy(state.data)
        if native.llama_state_seq_set_data(llama.ctx, buffer, len(state.data), 0) == 0:
            llama.reset()  # could not restore: evaluate from scratch, as without a kept state
            return
        llama.input_ids[: len(state.tokens)] = state.tokens
        llama.n_tokens = len(state.tokens)
        llama._requires_eval = True  # the logits are not restored: the suffix is evaluated
        self._states.move_to_end(state.tokens)


class HarnessLlama(Llama):
    """`Llama` with the grammar applied after sampling and prompt prefixes kept across
    deployments (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefixes = SavedPrefixes(self)

    # Llama calls both with keyword arguments only
    def _init_sampler(self, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("grammar") is None or kwargs.get("temp") != 0.0:
            # above temperature 0 the draws would differ from llama-cpp-python's (and seeded
            # replies with them): its own chain, grammar first, is kept there
            return super()._init_sampler(**kwargs)
        grammar = kwargs.pop("grammar")
        chain = super()._init_sampler(**kwargs)
        masking: Any = internals.LlamaSampler
        masking = masking()
        masking.add_grammar(self._model, grammar)
        return GrammarAfterSampling(chain, masking, self._n_vocab)

    def generate(  # type: ignore[override]
        self, tokens: Sequence[int], **kwargs: Any
    ) -> Generator[int, Sequence[int] | None, None]:
        if kwargs.get("reset", True):
            self.prefixes.prepare(tokens)
        return super().generate(tokens, **kwargs)
