"""The Python a job runs with: probed once (:mod:`.remote`), or a synced environment built
from a lock of this kernel's packages (:mod:`.lock`, :mod:`.sync`) with its build steps as
events (:mod:`.buildevents`); package names and hints (:mod:`.packages`)."""
