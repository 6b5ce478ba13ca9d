"""The built-in agent ``llm``: a minimal tool-calling loop over any OpenAI-compatible endpoint.

One loop, in the manner of mini-swe-agent: ask the model, run the tool calls it
makes with the lab tools, append the observations, repeat; a reply without a
tool call ends the run. The harness enforces the budget (the tools refuse after
the deadline); the loop adds what a model endpoint needs::

    --autolab-agent=llm
    --autolab-agent-option model=gpt-4.1                 (or AUTOLAB_MODEL)
    --autolab-agent-option base_url=http://127.0.0.1:8000/v1   (or OPENAI_BASE_URL; vLLM, Ollama ...)
    --autolab-agent-option api_key=...                   (or OPENAI_API_KEY)

Options (all strings on the command line): ``model``, ``base_url``, ``api_key``,
``max_turns`` (300), ``temperature``, ``max_tokens``, ``reasoning_effort``,
``context_tokens`` (120000: old observations are trimmed past it),
``keep_observations`` (6: the latest ones are never trimmed), ``max_retries`` (8),
``retry_base_s`` (2), ``request_timeout_s`` (600), ``max_malformed`` (3:
consecutive turns of malformed tool calls before it stops),
``input_cost_per_mtok`` / ``output_cost_per_mtok`` (USD, for a cost where the
endpoint reports none).

It writes ``<run>/<task>/agent/trajectory.jsonl`` after every step::

    {"type": "start", "model": ..., "system": ..., "instruction": ..., "tools": [...]}
    {"type": "step", "step": 1, "t_s": 3.2, "assistant": {...}, "observations": [...], "usage": {...}}
    {"type": "retry", "attempt": 1, "error": "429 ...", "delay_s": 2.0}
    {"type": "end", "stop_reason": "done", "message": ..., "usage": {...}}
"""

from __future__ import annotations

import functools
import json
import os
import random
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..tools import TOOL_SPECS, BudgetExhausted, LabTools, ToolCallError
from ._protocol import AgentContext, AgentError, AgentOutcome
from ._registry import parse_numeric_option

__all__ = ["SYSTEM_PROMPT", "LLMAgent"]

SYSTEM_PROMPT = """\
You are a performance engineer working alone on an optimisation task. There is no answer key: \
you find out what works by experiment. Work in a loop: read and measure the program, form a \
hypothesis, change the code, check it yourself, evaluate it, and revise.

Your tools:
- bash: run a command in the task's app directory (a fresh shell each time; no network).
- read_file / write_file: read or replace a file in the app directory.
- evaluate: score the editable files with the task's own verifier on public inputs. It is the \
trustworthy measurement, every call is recorded, and the number of calls is limited: check \
correctness cheaply yourself first, evaluate when you expect a real result.
- status: time and evaluations left, and your best result so far.

The run:
{briefing}
Every observation ends with the time and evaluations left. Whatever the editable files hold when \
you stop, or when the deadline comes, is scored; an incorrect program scores 0. So keep them \
correct: before a risky change, know how to go back to your best version.

When you are done, reply with a short summary and no tool call: that ends the run."""

#: Characters per token, for estimating the size of the conversation.
CHARS_PER_TOKEN = 4
#: A trimmed observation reads this.
TRIMMED = "[observation trimmed to save context ({} characters); rerun the tool if you need it]"


#: A numeric option from the command line (a string) or from code (agents/_registry.py).
_option = functools.partial(parse_numeric_option, "llm")


def _openai() -> Any:
    try:
        import openai
    except ImportError as exc:
        raise AgentError(
            f"the llm agent needs the 'openai' package ({exc}): pip install 'pytest-autolab[agents]' "
            "(or pip install openai)"
        ) from exc
    return openai


class LLMAgent:
    """Tool-calling loop over the chat-completions API of any OpenAI-compatible endpoint."""

    name = "llm"

    def __init__(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        max_turns: str | int = 300,
        temperature: str | float | None = None,
        max_tokens: str | int | None = None,
        reasoning_effort: str | None = None,
        context_tokens: str | int = 120_000,
        keep_observations: str | int = 6,
        max_retries: str | int = 8,
        retry_base_s: str | float = 2.0,
        request_timeout_s: str | float = 600.0,
        max_malformed: str | int = 3,
        input_cost_per_mtok: str | float | None = None,
        output_cost_per_mtok: str | float | None = None,
    ) -> None:
        self.openai = _openai()
        self.model = model or os.environ.get("AUTOLAB_MODEL") or ""
        if not self.model:
            raise AgentError(
                "the llm agent needs a model: --autolab-agent-option model=NAME or AUTOLAB_MODEL=NAME"
            )
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key and not self.base_url:
            raise AgentError(
                "the llm agent needs an API key for the OpenAI API: set OPENAI_API_KEY or "
                "--autolab-agent-option api_key=...; or point it at another endpoint with "
                "--autolab-agent-option base_url=http://host:port/v1 (or OPENAI_BASE_URL)"
            )
        # Local servers (vLLM, Ollama) take any key, but the client insists on one.
        self._api_key = key or "not-needed"
        self.max_turns = _option("max_turns", max_turns, int, minimum=1)
        self.temperature = _option("temperature", temperature, float, minimum=0)
        self.max_tokens = _option("max_tokens", max_tokens, int, minimum=1)
        self.reasoning_effort = reasoning_effort
        self.context_tokens = _option("context_tokens", context_tokens, int, minimum=1000)
        self.keep_observations = _option("keep_observations", keep_observations, int, minimum=1)
        self.max_retries = _option("max_retries", max_retries, int, minimum=0)
        self.retry_base_s = _option("retry_base_s", retry_base_s, float, minimum=0)
        self.request_timeout_s = _option("request_timeout_s", request_timeout_s, float, minimum=1)
        self.max_malformed = _option("max_malformed", max_malformed, int, minimum=1)
        self.prices = (
            _option("input_cost_per_mtok", input_cost_per_mtok, float, minimum=0),
            _option("output_cost_per_mtok", output_cost_per_mtok, float, minimum=0),
        )
        self._run: _Run | None = None

    def cancel(self) -> None:
        """Stop at the next step (the lab calls this when the run overstays its budget)."""
        if self._run is not None:
            self._run.cancelled.set()

    # -- the loop ----------------------------------------------------------------------------

    def run(self, ctx: AgentContext) -> AgentOutcome:
        client = self.openai.OpenAI(
            base_url=self.base_url, api_key=self._api_key, max_retries=0, timeout=self.request_timeout_s
        )
        run = self._run = _Run(self, ctx, client)  # one per run: the agent object serves every task
        try:
            return run.loop()
        finally:
            client.close()


class _Run:
    """The state of one loop: messages, usage, trajectory."""

    def __init__(self, agent: LLMAgent, ctx: AgentContext, client: Any) -> None:
        self.agent = agent
        self.ctx = ctx
        self.tools: LabTools = ctx.tools
        self.client = client
        self.trajectory = Path(ctx.log_dir) / "trajectory.jsonl"
        self.system = SYSTEM_PROMPT.format(briefing=self.tools.briefing())
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": ctx.instruction},
        ]
        self.usage: dict[str, Any] = {
            "model": agent.model,
            "turns": 0,
            "requests": 0,
            "retries": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cached_tokens": 0,
            "cost_usd": None,
            "tool_calls": {},
            "malformed_tool_calls": 0,
            "trimmed_observations": 0,
        }
        self.started = time.monotonic()
        self.cancelled = threading.Event()
        #: Consecutive turns whose tool calls were all malformed.
        self.malformed_turns = 0

    def write(self, event: dict[str, Any]) -> None:
        """Append one event to trajectory.jsonl (after every step: nothing is lost on a crash)."""
        event = {**event, "t_s": round(time.monotonic() - self.started, 3)}
        self.trajectory.parent.mkdir(parents=True, exist_ok=True)
        with self.trajectory.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event, default=str) + "\n")

    def loop(self) -> AgentOutcome:
        """Ask, act, observe, until the model stops, a limit is reached or time is up."""
        agent, budget = self.agent, self.tools.budget
        self.write({
            "type": "start", "model": agent.model, "base_url": agent.base_url, "system": self.system,
            "instruction": self.ctx.instruction, "tools": [s["name"] for s in TOOL_SPECS],
            "budget": {"time_s": budget.time_s, "max_evaluations": budget.max_evaluations},
        })  # fmt: skip
        stop, message = "max_turns", ""
        try:
            for step in range(1, agent.max_turns + 1):
                if self.cancelled.is_set():
                    stop = "cancelled"
                    break
                if budget.expired():
                    raise BudgetExhausted("the deadline passed")
                ended = self.step(step)
                if ended is not None:
                    stop, message = ended
                    break
                self.trim_context()
        except BudgetExhausted as exc:
            stop, message = "budget", str(exc)
        self.write({"type": "end", "stop_reason": stop, "message": message, "usage": self.usage})
        return AgentOutcome(message=message, stop_reason=stop, usage=dict(self.usage))

    def step(self, step: int) -> tuple[str, str] | None:
        """One model call and its tool calls; (stop reason, message) once the run ends."""
        response = self.complete()
        self.usage["turns"] = step
        choice = response.choices[0] if response.choices else None
        reply = getattr(choice, "message", None)
        content = getattr(reply, "content", None) or ""
        calls = list(getattr(reply, "tool_calls", None) or [])
        assistant: dict[str, Any] = {"role": "assistant", "content": content or None}
        if calls:
            assistant["tool_calls"] = [self.call_dict(call, step, i) for i, call in enumerate(calls)]
        self.messages.append(assistant)
        finish = getattr(choice, "finish_reason", None)
        record = {"type": "step", "step": step, "assistant": assistant, "finish_reason": finish,
                  "usage": self.step_usage(response)}  # fmt: skip
        exhausted = None
        if calls:
            observations, good, exhausted = self.run_calls(assistant["tool_calls"])
            self.malformed_turns = 0 if good else self.malformed_turns + 1
        elif finish == "length" or choice is None:
            # Cut off, or nothing at all: not a decision to stop.
            note = "your reply was cut off or empty; continue, with a tool call if you need one"
            self.messages.append({"role": "user", "content": note})
            observations = [{"note": note}]
            self.malformed_turns += 1
            self.usage["malformed_tool_calls"] += 1
        else:
            self.write({**record, "observations": []})
            return "done", content  # a reply without a tool call ends the run
        self.write({**record, "observations": observations})
        if exhausted is not None:
            raise exhausted
        if self.malformed_turns >= self.agent.max_malformed:
            return "malformed", f"stopped after {self.malformed_turns} turns of malformed tool calls"
        return None

    # -- tool calls --------------------------------------------------------------------------

    @staticmethod
    def call_dict(call: Any, step: int, index: int) -> dict[str, Any]:
        function = getattr(call, "function", None)
        return {
            "id": getattr(call, "id", None) or f"call_{step}_{index}",
            "type": "function",
            "function": {
                "name": getattr(function, "name", None) or "",
                "arguments": getattr(function, "arguments", None) or "",
            },
        }

    def run_calls(
        self, calls: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], bool, BudgetExhausted | None]:
        """Run a turn's tool calls and append their observations.

        Returns the observations, whether any call was well formed, and the
        BudgetExhausted that stopped the turn, if the deadline came.
        """
        observations = []
        good = False
        exhausted: BudgetExhausted | None = None
        for call in calls:
            name, arguments = call["function"]["name"], call["function"]["arguments"]
            malformed = False
            try:
                if exhausted is not None:
                    raise exhausted
                text = self.tools.call(name, arguments)
                good = True
            except ToolCallError as exc:
                malformed = True
                self.usage["malformed_tool_calls"] += 1
                text = f"error: malformed tool call: {exc}"
            except BudgetExhausted as exc:
                good, exhausted = True, exc
                text = f"error: {exc}"
            counts = self.usage["tool_calls"]
            counts[name] = counts.get(name, 0) + 1
            self.messages.append({"role": "tool", "tool_call_id": call["id"], "content": text})
            observations.append({"id": call["id"], "name": name, "malformed": malformed, "content": text})
        return observations, good, exhausted

    # -- the model ---------------------------------------------------------------------------

    def request(self) -> dict[str, Any]:
        agent = self.agent
        kwargs: dict[str, Any] = {
            "model": agent.model,
            "messages": self.messages,
            "tools": [{"type": "function", "function": spec} for spec in TOOL_SPECS],
        }
        if agent.temperature is not None:
            kwargs["temperature"] = agent.temperature
        if agent.max_tokens is not None:
            kwargs["max_tokens"] = agent.max_tokens
        if agent.reasoning_effort:
            kwargs["reasoning_effort"] = agent.reasoning_effort
        return kwargs

    def complete(self) -> Any:
        """One chat completion, retried with backoff on rate limits and transient errors."""
        openai, agent, budget = self.agent.openai, self.agent, self.tools.budget
        attempt = 0
        keep_on_overflow = [1, 0]  # observations kept whole on a first, then a second overflow
        while True:
            remaining = budget.remaining_s()
            if remaining <= 0:
                raise BudgetExhausted("the deadline passed while waiting for the model")
            self.usage["requests"] += 1
            try:
                return self.client.chat.completions.create(
                    **self.request(), timeout=min(agent.request_timeout_s, remaining + 1.0)
                )
            except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                raise AgentError(
                    f"the model endpoint refused the credentials ({exc.status_code}): check OPENAI_API_KEY "
                    f"or --autolab-agent-option api_key=... for {agent.base_url or 'the OpenAI API'}"
                ) from exc
            except openai.BadRequestError as exc:
                if _is_context_overflow(exc):
                    while keep_on_overflow:
                        if self.trim_context(keep=keep_on_overflow.pop(0), force=True):
                            break
                    else:
                        raise AgentError(
                            f"the conversation no longer fits the model's context: {exc}"
                        ) from exc
                    continue
                raise AgentError(f"the model endpoint rejected the request: {exc}") from exc
            except openai.APIStatusError as exc:
                if exc.status_code not in (408, 409, 429) and exc.status_code < 500:
                    raise AgentError(f"the model endpoint answered {exc.status_code}: {exc}") from exc
                error, retry_after = f"{exc.status_code}: {exc}", _retry_after(exc.response)
            except openai.APIConnectionError as exc:  # timeouts included
                error, retry_after = f"{type(exc).__name__}: {exc}", None
            attempt += 1
            if attempt > agent.max_retries:
                raise AgentError(f"the model endpoint failed {attempt} times in a row; last: {error}")
            backoff = min(60.0, agent.retry_base_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            delay = retry_after if retry_after is not None else backoff
            self.usage["retries"] += 1
            self.write(
                {"type": "retry", "attempt": attempt, "error": error[:500], "delay_s": round(delay, 2)}
            )
            if delay >= budget.remaining_s():
                raise BudgetExhausted("the deadline comes before the model endpoint recovers")
            if self.cancelled.wait(delay):
                raise BudgetExhausted("cancelled while waiting for the model endpoint")

    def step_usage(self, response: Any) -> dict[str, Any]:
        """Add a response's usage to the totals; return the step's own."""
        usage = getattr(response, "usage", None)
        if usage is None:
            return {}
        prompt = getattr(usage, "prompt_tokens", 0) or 0
        completion = getattr(usage, "completion_tokens", 0) or 0
        details = getattr(usage, "prompt_tokens_details", None)
        cached = (getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
        cost = _reported_cost(usage)
        if cost is None and None not in self.agent.prices:
            cost = (prompt * self.agent.prices[0] + completion * self.agent.prices[1]) / 1e6
        self.usage["input_tokens"] += prompt
        self.usage["output_tokens"] += completion
        self.usage["cached_tokens"] += cached
        if cost is not None:
            self.usage["cost_usd"] = round((self.usage["cost_usd"] or 0.0) + cost, 6)
        return {
            "input_tokens": prompt,
            "output_tokens": completion,
            "cached_tokens": cached,
            "cost_usd": cost,
        }

    # -- context -----------------------------------------------------------------------------

    def context_size(self) -> int:
        """Estimated tokens of the conversation."""
        chars = 0
        for message in self.messages:
            chars += len(message.get("content") or "")
            for call in message.get("tool_calls") or []:
                chars += len(call["function"]["arguments"])
        return chars // CHARS_PER_TOKEN

    def trim_context(self, *, keep: int | None = None, force: bool = False) -> int:
        """Past the context budget, replace the oldest observations (and file contents the
        model wrote) with a note, keeping the latest ``keep_observations`` whole.

        ``force``: trim every observation but the latest ``keep``. Returns how many were trimmed.
        """
        if not force and self.context_size() <= self.agent.context_tokens:
            return 0
        keep = self.agent.keep_observations if keep is None else keep
        trimmed = 0
        tool_messages = [m for m in self.messages if m["role"] == "tool"]
        old = tool_messages[: max(0, len(tool_messages) - keep)]
        for message in old:
            content = message["content"] or ""
            if content.startswith("[observation trimmed"):
                continue
            message["content"] = TRIMMED.format(len(content))
            self.usage["trimmed_observations"] += 1
            trimmed += 1
            if not force and self.context_size() <= self.agent.context_tokens:
                return trimmed
        # Old write_file contents are the other big item: keep the path, drop the text.
        assistants = [m for m in self.messages if m["role"] == "assistant" and m.get("tool_calls")]
        for message in assistants[: max(0, len(assistants) - keep)]:
            for call in message["tool_calls"]:
                if call["function"]["name"] != "write_file":
                    continue
                try:
                    args = json.loads(call["function"]["arguments"])
                except ValueError:
                    continue
                if (
                    isinstance(args, dict)
                    and isinstance(args.get("content"), str)
                    and len(args["content"]) > 200
                ):
                    args["content"] = TRIMMED.format(len(args["content"]))
                    call["function"]["arguments"] = json.dumps(args)
                    trimmed += 1
        return trimmed


def _is_context_overflow(exc: Exception) -> bool:
    text = str(exc).lower()
    return "context" in text and (
        "length" in text or "window" in text or "too long" in text or "maximum" in text
    )


def _retry_after(response: Any) -> float | None:
    """Seconds from a Retry-After header (seconds form only), capped at a minute."""
    headers: Mapping[str, str] = getattr(response, "headers", None) or {}
    value = headers.get("retry-after")
    try:
        return min(max(float(value), 0.0), 60.0) if value is not None else None
    except ValueError:
        return None


def _reported_cost(usage: Any) -> float | None:
    """A cost the endpoint reports in its usage (OpenRouter and some gateways do)."""
    extra = getattr(usage, "model_extra", None) or {}
    for key in ("cost", "total_cost", "cost_usd"):
        value = extra.get(key, getattr(usage, key, None))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None
