"""What /metrics reports about runs, their steps and their LLM calls, and the production endpoint's counter.

Runs, steps and LLM calls are rows in the database: they are counted there at scrape time, so any web process
reports the same totals whichever worker process did the work. A row deleted with its run (a run and its ledger
go together) lowers a total, which Prometheus reads as a counter reset. The production endpoint's requests are
counted in the web process that answers them (prometheus_client; summed over gunicorn workers in multiprocess
mode), because a database or Redis write per request would cost more than the request itself.
"""

from django.db.models import Count, Q, Sum
from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from .models import LLMCall, Run, RunStatus, StepTiming

STEP_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)  # seconds: a cached step to a long embedded inference

_production_requests = Counter(
    "promptopt_production_requests", "Requests to the production prompt endpoint, by HTTP status (304: unchanged).",
    ["code"],
)
_by_code = {code: _production_requests.labels(str(code)) for code in (200, 304)}  # the quick path's answers


def count_production_request(code):
    (_by_code.get(code) or _production_requests.labels(str(code))).inc()


class DatabaseCollector:
    def collect(self):
        yield self.runs()
        yield self.step_durations()
        yield from self.llm_calls()

    def runs(self):
        family = GaugeMetricFamily("promptopt_runs", "Runs by status.", labels=["status"])
        counts = dict(Run.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in RunStatus.values:
            family.add_metric([status], counts.get(status, 0))
        return family

    def step_durations(self):
        family = HistogramMetricFamily(
            "promptopt_run_step_duration_seconds", "How long the steps of runs took, claim to record.",
            labels=["step"],
        )
        buckets = {f"le{i}": Count("id", filter=Q(seconds__lte=bound)) for i, bound in enumerate(STEP_BUCKETS)}
        rows = StepTiming.objects.values("step").annotate(n=Count("id"), total=Sum("seconds"), **buckets).order_by()
        for row in rows:
            cumulative = [(str(bound), row[f"le{i}"]) for i, bound in enumerate(STEP_BUCKETS)]
            family.add_metric([row["step"]], cumulative + [("+Inf", row["n"])], row["total"] or 0.0)
        return family

    def llm_calls(self):
        labels = ["provider", "purpose"]
        calls = CounterMetricFamily("promptopt_llm_calls", "LLM completions handed out, paid or cached.", labels=labels)
        hits = CounterMetricFamily("promptopt_llm_cache_hits", "LLM completions served from the cache.", labels=labels)
        tokens = CounterMetricFamily("promptopt_llm_tokens", "LLM tokens, by direction.", labels=[*labels, "direction"])
        cost = CounterMetricFamily("promptopt_llm_cost_usd", "What LLM calls cost, in US dollars.", labels=labels)
        rows = LLMCall.objects.values("provider", "purpose").annotate(
            n=Count("id"), hits=Count("id", filter=Q(cached=True)), input=Sum("input_tokens"),
            output=Sum("output_tokens"), cost=Sum("cost"),
        ).order_by()
        for row in rows:
            key = [row["provider"], row["purpose"]]
            calls.add_metric(key, row["n"])
            hits.add_metric(key, row["hits"])
            tokens.add_metric([*key, "input"], row["input"] or 0)
            tokens.add_metric([*key, "output"], row["output"] or 0)
            cost.add_metric(key, float(row["cost"] or 0))
        return calls, hits, tokens, cost
