"""Every table of the application: importing this module registers them all with
``callcenter.db.Base.metadata`` (for Alembic, ``create_all`` and the tests).

The shared tables are in :mod:`callcenter.models`; a feature's own tables live with the
feature and import only :mod:`callcenter.db` (and the shared models). A new table module is
listed here, so the migrations and the schema check see it.
"""

import callcenter.care.models
import callcenter.crm.models
import callcenter.knowledge.models
import callcenter.media.models
import callcenter.metrics.facts
import callcenter.models
import callcenter.supervision.models  # noqa: F401
from callcenter.db import Base

metadata = Base.metadata
