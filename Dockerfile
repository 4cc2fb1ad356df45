# The tidewise image: `tidewise operator` (deploy/operator), the scheduler extender
# (`tidewise extender serve`, deploy/scheduler) and the CLI. Build: `docker build -t tidewise .`
# Two stages: wheels are built with the toolchain, the image carries only the installed package.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tidewise ./tidewise
# the kube extra: the operator, the extender and the controllers need the Kubernetes clients
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[kube]'

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# the numeric user deploy/operator's securityContext runs as (runAsNonRoot needs a number)
USER 65532:65532
ENTRYPOINT ["tidewise"]
CMD ["operator"]
