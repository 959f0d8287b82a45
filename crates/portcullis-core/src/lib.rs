//! Portcullis domain: users, workspaces and tasks, stored in SQLite or PostgreSQL.
//!
//! Every read and write goes through [`Store`] methods that take the acting [`Actor`]; an
//! `Actor` can only be obtained from [`Store::actor`], so no caller can build a query that
//! forgets whose rows it touches. Rows of another user (or another tenant) are simply not
//! found.

mod actor;
mod admin;
mod api_key;
mod audit;
mod audit_journal;
mod db;
mod error;
mod fields;
pub mod idempotency;
pub mod oauth;
mod profile;
pub mod secret;
mod store;
mod task;
pub mod timestamp;
pub mod wire;
mod workspace;

pub use actor::{Actor, TenantId};
pub use admin::{TenantAdmin, TenantStats, UserRecord};
pub use api_key::{ApiKey, ApiKeyRejection, NewApiKey, key_id as api_key_id};
pub use audit::{AuditEvent, AuditQuery};
pub use error::{StoreError, ValidationError};
pub use fields::{Description, EntityId, Limit, TaskStatus, TaskTitle, WorkspaceName};
pub use profile::UserProfile;
pub use store::{Backend, Store};
pub use task::{NewTask, Task, TaskFilter, TaskPatch};
pub use workspace::{NewWorkspace, Workspace};
