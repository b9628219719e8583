# One image for every service; APP_MODULE picks which one a container runs (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app
WORKDIR /app
# Acceptance's PDF documents (WeasyPrint): a CJK font, Pango, HarfBuzz's subsetter; the same list as the Makefile's
# SYSTEM_PACKAGES.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-wqy-microhei fontconfig libpango-1.0-0 libpangoft2-1.0-0 \
    libharfbuzz-subset0 \
 && rm -rf /var/lib/apt/lists/*
COPY requirements-pip.lock requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements-pip.lock \
 && pip install --no-cache-dir --require-hashes -r requirements.lock
COPY services ./services
COPY gateway ./gateway
RUN useradd --system --uid 10001 zwfw
USER zwfw
ARG APP_MODULE=gateway.main:app
ENV APP_MODULE=${APP_MODULE}
EXPOSE 8000
CMD ["sh", "-c", "exec uvicorn ${APP_MODULE} --host 0.0.0.0 --port 8000 --proxy-headers"]
