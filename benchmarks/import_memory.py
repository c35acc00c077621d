"""Memory of importing a 200,000-row CSV: the import streams, so its peak stays far below the file's size.

    python -m benchmarks.import_memory

Prints the file size, the import's time and Python's peak traced memory during it, and last a line
`import memory ratio: X.XX` (peak / file size). Holding the rows in memory once would be above 1.0 (Python
objects cost more than their text); the target is well below 1.
"""

import csv
import os
import tempfile
import time
import tracemalloc

from benchmarks.scratch import setup_django

ROWS = 200_000


def write_csv(path):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["question", "answer", "source"])
        for i in range(ROWS):
            question = f"Is {i} an even number? Think about the last digit of {i}."
            writer.writerow([question, "yes" if i % 2 == 0 else "no", f"generated-{i % 97}"])


def main():
    setup_django()
    from datasets.services import dataset_import
    from promptopt.teams.models import Team

    team = Team.objects.create(name="bench")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "big.csv")
        write_csv(path)
        size = os.path.getsize(path)
        tracemalloc.start()
        started = time.perf_counter()
        with open(path, "rb") as file:
            dataset = dataset_import(team=team, name="big", file=file, filename="big.csv", in_worker=False)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(f"rows: {dataset.examples.count()}  file: {size / 1e6:.1f} MB  import: {elapsed:.1f} s "
          f"({ROWS / elapsed:,.0f} rows/s, traced)  peak traced memory: {peak / 1e6:.1f} MB")
    print(f"import memory ratio: {peak / size:.2f}")


if __name__ == "__main__":
    main()
