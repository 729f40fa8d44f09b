# Sourced by the scripts in bin/: sets PY to a Python that can import Django.
# In the Docker image that is python3; on a Debian host with python3-django it
# may be /usr/bin/python3 while another python3 (pyenv, a venv) comes first.
PY=""
for candidate in ${PYTHON:-} /usr/bin/python3 python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import django' >/dev/null 2>&1; then
    PY=$(command -v "$candidate")
    break
  fi
done
if [ -z "$PY" ]; then
  echo "no Python with Django found (tried: ${PYTHON:-} /usr/bin/python3 python3 python); install requirements.txt" >&2
  exit 1
fi
