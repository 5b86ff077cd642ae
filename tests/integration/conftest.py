"""Safety net for every integration test: haboot must never reach the real
metadata address or an AWS hostname from a test.  Tests that use the
simulator override these variables with its loopback address."""
import os

# IMDS off unless a test points it at its own server.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
# A loopback port nothing listens on: a forgotten endpoint fails fast, locally.
os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
os.environ.setdefault("AWS_REGION", "us-east-1")
for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(var, None)
# The run report goes to the serial console (/dev/console): not this machine's.
os.environ.setdefault("HABOOT_CONSOLE", os.devnull)
