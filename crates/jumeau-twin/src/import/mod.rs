//! Importers that turn the files communes publish into NGSI-LD entities.
