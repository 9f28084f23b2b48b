# Weft: one image for every process (web, worker, beat); the command picks the role.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcurl4 postgresql-client \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 weft
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --chown=weft:weft . .
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput --verbosity 0
USER weft
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "-c", "config/gunicorn.conf.py"]
