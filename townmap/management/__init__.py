"""The town's environmental management: cleaner-production programme, ISO 14001 register
and the change log that is the register's document control."""
