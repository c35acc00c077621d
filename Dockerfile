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

EXPOSE 8000
# The web process; run the worker from the same image with `python manage.py worker` (one per machine: it runs
# the embedded model).
CMD ["sh", "-c", "python manage.py migrate --noinput && gunicorn promptopt.wsgi -b 0.0.0.0:8000 -w 2"]
