//! API keys: who may read and write which tenant.
//!
//! Keys are random 256-bit secrets shown once at creation and stored only as SHA-256
//! hashes (a key is high-entropy, so a fast hash is enough to make a stolen database
//! useless). Each key has a role and is scoped to tenants, so a departmental syndicate can
//! hold one key for the hundreds of communes it serves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use jumeau_model::{ErrorKind, NgsiError};
use jumeau_store::{ApiKeyRecord, Store};
use sha2::{Digest, Sha256};

/// How long a key lookup is reused before the store is asked again (a revocation made by
/// another process takes effect within this delay; one made here, at once).
const CACHE_TTL: Duration = Duration::from_secs(10);
/// Prefix of every key, so leaked keys are easy to recognise and scan for.
const KEY_PREFIX: &str = "jmk_";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read entities of its tenants.
    Reader,
    /// Read and write entities of its tenants.
    Editor,
    /// Everything on its tenants, plus keys, tenant settings and contexts.
    Admin,
}

impl Role {
    /// The role's name as stored and typed in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = NgsiError;
    fn from_str(s: &str) -> Result<Self, NgsiError> {
        match s {
            "reader" => Ok(Self::Reader),
            "editor" => Ok(Self::Editor),
            "admin" => Ok(Self::Admin),
            other => Err(NgsiError::bad_data(format!(
                "'{other}' is not a role; use reader, editor or admin"
            ))),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The key's public id.
    pub key_id: String,
    /// Its role.
    pub role: Role,
    /// Its tenants (`*`: all).
    pub tenants: Vec<String>,
}

impl Principal {
    /// Whether the key covers this tenant.
    pub fn covers(&self, tenant: &str) -> bool {
        self.tenants.iter().any(|t| t == "*" || t == tenant)
    }
    /// Whether the key covers every tenant.
    pub fn covers_all(&self) -> bool {
        self.tenants.iter().any(|t| t == "*")
    }
}

/// The caller of a request as far as permissions go.
pub type Caller = Option<Principal>;

/// Key management and permission checks.
pub struct Auth {
    store: Arc<dyn Store>,
    cache: Mutex<HashMap<String, (Instant, Option<Principal>)>>,
}

/// SHA-256 of a key, hex.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex(bytes: usize) -> Result<String, NgsiError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| NgsiError::internal(format!("no secure random source: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn unauthorized() -> NgsiError {
    NgsiError::new(
        ErrorKind::Unauthorized,
        "this request needs an API key: send 'Authorization: Bearer <key>' (create one with 'jumeau keys create')",
    )
}

fn forbidden(detail: String) -> NgsiError {
    NgsiError::new(ErrorKind::Forbidden, detail)
}

impl Auth {
    /// Key checks over a store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Creates a key; returns the secret (shown once) and its stored record.
    pub async fn create_key(
        &self,
        name: &str,
        role: Role,
        tenants: Vec<String>,
    ) -> Result<(String, ApiKeyRecord), NgsiError> {
        if tenants.is_empty() {
            return Err(NgsiError::bad_data(
                "a key needs at least one tenant (or '*' for all tenants)",
            ));
        }
        for t in &tenants {
            if t != "*" {
                crate::validate_tenant(t)?;
            }
        }
        let secret = format!("{KEY_PREFIX}{}", random_hex(32)?);
        let record = ApiKeyRecord {
            id: random_hex(6)?,
            name: name.to_string(),
            hash: hash_key(&secret),
            role: role.as_str().to_string(),
            tenants,
            created_at: Utc::now(),
            revoked_at: None,
        };
        self.store.put_key(record.clone()).await?;
        Ok((secret, record))
    }

    /// Registers the bootstrap admin key given by the operator (JUMEAU_ADMIN_KEY) when the
    /// store has no admin key yet. Returns whether it was registered.
    pub async fn bootstrap_admin(&self, secret: &str) -> Result<bool, NgsiError> {
        if secret.len() < 16 {
            return Err(NgsiError::bad_data(
                "JUMEAU_ADMIN_KEY must be at least 16 characters long; generate one with 'openssl rand -hex 32'",
            ));
        }
        let keys = self.store.keys().await?;
        let hash = hash_key(secret);
        if keys.iter().any(|k| k.hash == hash) {
            return Ok(false);
        }
        if keys
            .iter()
            .any(|k| k.role == "admin" && k.revoked_at.is_none())
        {
            return Ok(false);
        }
        let record = ApiKeyRecord {
            id: random_hex(6)?,
            name: "bootstrap admin (JUMEAU_ADMIN_KEY)".into(),
            hash,
            role: Role::Admin.as_str().into(),
            tenants: vec!["*".into()],
            created_at: Utc::now(),
            revoked_at: None,
        };
        self.store.put_key(record).await?;
        Ok(true)
    }

    /// Revokes a key by id; false if no such key.
    pub async fn revoke(&self, id: &str) -> Result<bool, NgsiError> {
        let found = self.store.revoke_key(id).await?;
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
        Ok(found)
    }

    /// Resolves the bearer token of a request (if any) to a principal; an unknown or
    /// revoked key is an error, not an anonymous caller.
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Caller, NgsiError> {
        let Some(token) = bearer else { return Ok(None) };
        let hash = hash_key(token);
        if let Ok(c) = self.cache.lock() {
            if let Some((at, p)) = c.get(&hash) {
                if at.elapsed() < CACHE_TTL {
                    return p.clone().map(Some).ok_or_else(unauthorized_key);
                }
            }
        }
        let principal = match self.store.key_by_hash(&hash).await? {
            Some(k) if k.revoked_at.is_none() => {
                let role = k.role.parse::<Role>().map_err(|_| {
                    NgsiError::internal(format!("key {} has an unknown role {}", k.id, k.role))
                })?;
                Some(Principal {
                    key_id: k.id,
                    role,
                    tenants: k.tenants,
                })
            }
            _ => None,
        };
        if let Ok(mut c) = self.cache.lock() {
            if c.len() > 10_000 {
                c.clear();
            }
            c.insert(hash, (Instant::now(), principal.clone()));
        }
        principal.map(Some).ok_or_else(unauthorized_key)
    }

    /// Checks that the caller may read a tenant (public tenants are open to all).
    pub fn check_read(&self, caller: &Caller, tenant: &str, public: bool) -> Result<(), NgsiError> {
        if public {
            return Ok(());
        }
        match caller {
            None => Err(unauthorized()),
            Some(p) if p.covers(tenant) => Ok(()),
            Some(p) => Err(forbidden(format!(
                "key {} does not cover tenant '{tenant}'",
                p.key_id
            ))),
        }
    }

    /// Checks that the caller may write entities of a tenant.
    pub fn check_write(&self, caller: &Caller, tenant: &str) -> Result<(), NgsiError> {
        self.check_role(caller, tenant, Role::Editor)
    }

    /// Checks that the caller has at least `role` on `tenant`.
    pub fn check_role(&self, caller: &Caller, tenant: &str, role: Role) -> Result<(), NgsiError> {
        match caller {
            None => Err(unauthorized()),
            Some(p) if !p.covers(tenant) => Err(forbidden(format!(
                "key {} does not cover tenant '{tenant}'",
                p.key_id
            ))),
            Some(p) if p.role < role => Err(forbidden(format!(
                "key {} has role {}; this request needs {}",
                p.key_id,
                p.role.as_str(),
                role.as_str()
            ))),
            Some(_) => Ok(()),
        }
    }

    /// Checks that the caller has at least `role` on some tenant (for resources shared by
    /// all tenants, such as hosted @contexts).
    pub fn check_any(&self, caller: &Caller, role: Role) -> Result<(), NgsiError> {
        match caller {
            None => Err(unauthorized()),
            Some(p) if p.role < role => Err(forbidden(format!(
                "key {} has role {}; this request needs {}",
                p.key_id,
                p.role.as_str(),
                role.as_str()
            ))),
            Some(_) => Ok(()),
        }
    }
}

fn unauthorized_key() -> NgsiError {
    NgsiError::new(ErrorKind::Unauthorized, "the API key is unknown or revoked")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin > Role::Editor && Role::Editor > Role::Reader);
        assert!("writer".parse::<Role>().is_err());
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
