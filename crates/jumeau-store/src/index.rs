//! Engine-neutral index rows derived from entities.
