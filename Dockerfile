# intake-bot: a slim image that runs one worker (`intake run`), as a user without privileges.
# docker-compose.yml beside it wires it to PostgreSQL; see README.md, "Docker Compose".

# --- build: the project's wheel and every dependency's, pinned by constraints.txt ---------
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY db ./db
COPY mailtemplates ./mailtemplates
COPY parsers ./parsers
RUN pip wheel --no-cache-dir --wheel-dir /wheels --constraint constraints.txt .

# --- run -----------------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    INTAKE_CONFIG=/config/intake.toml \
    TZ=Europe/Berlin
# from wheels only (their versions pinned by constraints.txt in the build stage): nothing is
# compiled, nothing else is fetched
# hadolint ignore=DL3013
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels intake-bot \
    && groupadd --system --gid 10001 intake \
    && useradd --system --uid 10001 --gid intake --home-dir /var/lib/intake \
       --shell /usr/sbin/nologin intake \
    && mkdir -p /config /var/lib/intake \
    && chown intake:intake /var/lib/intake
USER 10001:10001
WORKDIR /var/lib/intake
# healthy: this container's worker delivered the outbox within the last 2 minutes and the
# mailbox was read within the last few poll intervals (`intake health` says which failed)
HEALTHCHECK --interval=30s --timeout=20s --start-period=2m --retries=3 \
    CMD ["intake", "health"]
ENTRYPOINT ["intake"]
CMD ["run"]
