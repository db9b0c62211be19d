# cruddur-base/python:3.11-bookworm — stand-in for python:3.11-slim-bookworm.
# Everything (python3, python3-venv, python-is-python3, ca-certificates, host CA
# bundle, ENV) is already in the imported rootfs; this adds metadata only (no layer).
ARG ROOTFS=cruddur-base/rootfs:python-bookworm
FROM ${ROOTFS}
ENV PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
CMD ["python3"]
