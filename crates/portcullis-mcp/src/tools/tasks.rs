//! Task tools: list, get, create, update, complete, delete.

use portcullis_core::{
    Limit, NewTask, Task, TaskFilter, TaskStatus, TaskTitle, wire::UpdateTaskBody,
};
use rmcp::{model::CallToolResult, schemars, tool, tool_router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{description, id, invalid, optional_id, structured};
use crate::{
    Caller, PortcullisMcp, ToolError,
    args::{Args, input_schema},
};

/// Task status as tools accept it.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
// Inlined so the enum values sit next to the argument a model reads.
#[schemars(inline)]
pub enum StatusArg {
    Todo,
    InProgress,
    Done,
}

impl From<StatusArg> for TaskStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Todo => TaskStatus::Todo,
            StatusArg::InProgress => TaskStatus::InProgress,
            StatusArg::Done => TaskStatus::Done,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTasksArgs {
    /// Only tasks with this status.
    pub status: Option<StatusArg>,
    /// Only tasks filed in this workspace (an id from list_workspaces).
    pub workspace_id: Option<String>,
    /// At most this many tasks (1-500, default 100), oldest first.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskIdArgs {
    /// The task's id, as returned by list_tasks or create_task.
    pub task_id: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskArgs {
    /// A short title, 1-200 characters.
    pub title: String,
    /// Optional details, up to 5000 characters.
    pub description: Option<String>,
    /// Optional workspace to file the task in (an id from list_workspaces).
    pub workspace_id: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskArgs {
    /// The task's id.
    pub task_id: String,
    /// New title, 1-200 characters.
    pub title: Option<String>,
    /// New description; an empty string removes it.
    pub description: Option<String>,
    /// New status; `done` records the completion time, moving back clears it.
    pub status: Option<StatusArg>,
    /// Workspace to move the task to; an empty string takes it out of its workspace.
    pub workspace_id: Option<String>,
}

#[derive(Serialize)]
struct TaskList<'a> {
    count: usize,
    tasks: &'a [Task],
}

#[derive(Serialize)]
struct OneTask<'a> {
    task: &'a Task,
}

#[tool_router(router = task_router, vis = "pub(crate)")]
impl PortcullisMcp {
    #[tool(
        description = "List your tasks, oldest first. Optional filters: status (todo, in_progress, done) and workspace_id. Returns {\"tasks\": [...], \"count\": n}.",
        input_schema = input_schema::<ListTasksArgs>(),
        annotations(title = "List tasks", read_only_hint = true, open_world_hint = false)
    )]
    async fn list_tasks(
        &self,
        caller: Caller,
        args: Args<ListTasksArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let tasks = self.tasks(&caller, "list_tasks").await?;
        let args = args.0?;
        let filter = TaskFilter {
            status: args.status.map(Into::into),
            workspace_id: optional_id("workspace_id", args.workspace_id.as_deref())?,
            limit: Limit::parse(args.limit).map_err(invalid)?,
        };
        let tasks = tasks.list_tasks(&filter).await?;
        structured(&TaskList {
            count: tasks.len(),
            tasks: &tasks,
        })
    }

    #[tool(
        description = "Get one of your tasks by id. Returns {\"task\": {...}}.",
        input_schema = input_schema::<TaskIdArgs>(),
        annotations(title = "Get task", read_only_hint = true, open_world_hint = false)
    )]
    async fn get_task(
        &self,
        caller: Caller,
        args: Args<TaskIdArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let tasks = self.tasks(&caller, "get_task").await?;
        let task_id = id("task_id", &args.0?.task_id)?;
        let task = tasks.get_task(&task_id).await?;
        structured(&OneTask { task: &task })
    }

    #[tool(
        description = "Create a task with a title and optional description and workspace_id. New tasks have status todo. Returns {\"task\": {...}} with its id.",
        input_schema = input_schema::<CreateTaskArgs>(),
        annotations(title = "Create task", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn create_task(
        &self,
        caller: Caller,
        args: Args<CreateTaskArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let tasks = self.tasks(&caller, "create_task").await?;
        let args = args.0?;
        let new = NewTask {
            title: TaskTitle::parse(&args.title).map_err(invalid)?,
            description: description(args.description.as_deref())?,
            workspace_id: optional_id("workspace_id", args.workspace_id.as_deref())?,
        };
        let task = tasks.create_task(new).await?;
        structured(&OneTask { task: &task })
    }

    #[tool(
        description = "Change a task's title, description, status or workspace. Only the fields given change. Returns {\"task\": {...}}.",
        input_schema = input_schema::<UpdateTaskArgs>(),
        annotations(title = "Update task", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn update_task(
        &self,
        caller: Caller,
        args: Args<UpdateTaskArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let tasks = self.tasks(&caller, "update_task").await?;
        let args = args.0?;
        let task_id = id("task_id", &args.task_id)?;
        // The same rules as the REST backend's PATCH, from the one place they live.
        let patch = UpdateTaskBody {
            title: args.title,
            description: args.description,
            status: args.status.map(Into::into),
            workspace_id: args.workspace_id,
        }
        .validate()
        .map_err(invalid)?;
        let task = tasks.update_task(&task_id, patch).await?;
        structured(&OneTask { task: &task })
    }

    #[tool(
        description = "Mark a task as done and record when. Returns {\"task\": {...}}.",
        input_schema = input_schema::<TaskIdArgs>(),
        annotations(title = "Complete task", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn complete_task(
        &self,
        caller: Caller,
        args: Args<TaskIdArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let tasks = self.tasks(&caller, "complete_task").await?;
        let task_id = id("task_id", &args.0?.task_id)?;
        let task = tasks.complete_task(&task_id).await?;
        structured(&OneTask { task: &task })
    }

    #[tool(
        description = "Delete a task permanently. Returns {\"deleted\": true, \"task_id\": id}.",
        input_schema = input_schema::<TaskIdArgs>(),
        annotations(title = "Delete task", read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false)
    )]
    async fn delete_task(
        &self,
        caller: Caller,
        args: Args<TaskIdArgs>,
    ) -> Result<CallToolResult, ToolError> {
        let tasks = self.tasks(&caller, "delete_task").await?;
        let task_id = id("task_id", &args.0?.task_id)?;
        tasks.delete_task(&task_id).await?;
        structured(&json!({ "deleted": true, "task_id": task_id }))
    }
}
