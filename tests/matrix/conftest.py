"""The matrix's dynamo smoke run uses the moto server fixture of the DynamoDB tests."""

from tests.dynamo.conftest import moto_port  # noqa: F401 - a fixture, found by pytest through this import
