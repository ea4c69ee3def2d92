import pytest

from postwerk_maintenance.plugin import MaintenancePlugin


@pytest.fixture
def postwerk_plugins():
    return {"maintenance": MaintenancePlugin}
