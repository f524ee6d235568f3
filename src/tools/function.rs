//! Rust functions as tools: what a service embedding codemode exposes to agent code
//! without a process or a network hop (`tools.<name>(**kwargs)`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{CallableInfo, ParamInfo, ToolError, reject_unknown};

type BoxedFn =
    Arc<dyn Fn(Map<String, Value>) -> Pin<Box<dyn Future<Output = Result<Value, String>> + Send>> + Send + Sync>;

/// A Rust function registered as a tool.
#[derive(Clone)]
pub(crate) struct FunctionTool {
    name: String,
    params: Vec<ParamInfo>,
    function: BoxedFn,
}

impl std::fmt::Debug for FunctionTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionTool").field("name", &self.name).finish_non_exhaustive()
    }
}

impl FunctionTool {
    pub(crate) fn new<F, Fut>(name: &str, params: Vec<ParamInfo>, function: F) -> Self
    where
        F: Fn(Map<String, Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, String>> + Send + 'static,
    {
        let function: BoxedFn = Arc::new(move |args| Box::pin(function(args)));
        Self { name: name.to_owned(), params, function }
    }

    pub(crate) fn callables(&self, description: &str) -> Vec<CallableInfo> {
        vec![CallableInfo { name: None, description: description.to_owned(), params: self.params.clone() }]
    }

    /// Checks the arguments against the declared parameters, then calls the function.
    pub(crate) async fn call(&self, callable: Option<&str>, args: &Map<String, Value>) -> Result<Value, ToolError> {
        let invalid = |message: String| ToolError::InvalidArguments { tool: self.name.clone(), message };
        if let Some(callable) = callable {
            return Err(ToolError::UnknownCallable {
                tool: self.name.clone(),
                callable: crate::text::shown(callable),
                available: Vec::new(),
            });
        }
        let accepted: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
        reject_unknown(args, &accepted).map_err(invalid)?;
        let mut args = args.clone();
        for param in &self.params {
            if !args.contains_key(&param.name) {
                match &param.default {
                    Some(default) => {
                        args.insert(param.name.clone(), default.clone());
                    }
                    None if param.required => {
                        return Err(invalid(format!("required parameter {:?} is missing", param.name)));
                    }
                    None => {}
                }
            }
        }
        (self.function)(args).await.map_err(|message| ToolError::Failed { tool: self.name.clone(), message })
    }
}
