FROM python:3.11-slim

# OpenMP: sleep after a short spin rather than spin while waiting (see README); GGML_NATIVE=OFF: an image
# runs on other CPUs than the one that built it, so llama.cpp must not use this one's instruction set.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=100000 CMAKE_ARGS="-DGGML_NATIVE=OFF"
# A compiler and CMake: llama-cpp-python builds llama.cpp from source.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# collectstatic signs nothing, but the settings refuse to load without a key: this one lives only in this step.
# The container needs its own SECRET_KEY (or SECRET_KEY_FILE) at run time; see .env.example.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v0

# One image for every process (web, worker, migrate, storage emulator), run as a user without privileges: the
# code stays root's and read-only to it; it writes only var/ (SQLite and media when no service is configured)
# and the metrics directory.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin promptopt \
    && mkdir -p /app/var /tmp/prometheus && chown promptopt:promptopt /app/var /tmp/prometheus
USER promptopt

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# The web process. The same image runs the worker (`python manage.py worker`) and the migrations
# (`python manage.py migrate --noinput`, once per release, before the web and worker processes: docker-compose.yml).
CMD ["gunicorn", "-c", "promptopt/gunicorn.conf.py"]
