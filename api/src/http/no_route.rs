//! What a request that matches no route gets: 405 with `Allow` when the path is one the API
//! has but the method is not one it takes there (RFC 9110 §15.5.6), 404 otherwise.
//!
//! The methods of each path are read from the OpenAPI document rather than listed again here:
//! the document is generated from the handlers, so the two cannot drift apart (a test holds
//! every documented method to a real route).

use super::ApiDoc;
use super::problem::Problem;
use actix_web::dev::ResourceDef;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use std::sync::OnceLock;
use utoipa::OpenApi;

/// Every path pattern of the API with the methods it takes, upper case.
fn routes() -> &'static [(ResourceDef, Vec<&'static str>)] {
    static ROUTES: OnceLock<Vec<(ResourceDef, Vec<&'static str>)>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let mut routes: Vec<(ResourceDef, Vec<&'static str>)> = ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    // Every GET route answers HEAD too (`http::get`).
                    ("HEAD", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                (ResourceDef::new(path.as_str()), methods.iter().filter(|m| m.1).map(|m| m.0).collect())
            })
            .collect();
        // The document does not describe itself.
        routes.push((ResourceDef::new("/openapi.json"), vec!["GET", "HEAD"]));
        routes
    })
}

/// The methods the API takes at `path`, if it has that path at all.
pub fn allowed_methods(path: &str) -> Option<Vec<&'static str>> {
    routes().iter().find(|(def, _)| def.is_match(path)).map(|(_, methods)| methods.clone())
}

/// The app's default service.
pub async fn no_route(req: HttpRequest) -> Result<HttpResponse, Problem> {
    let (method, path) = (req.method(), req.path());
    Err(match allowed_methods(path) {
        Some(allowed) => Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "不支持此方法 / Method not allowed",
            format!(
                "{path} 不支持 {method}，可用：{list} / {path} does not take {method}; it takes {list}",
                list = allowed.join(", ")
            ),
        )
        .with("allow", &allowed),
        None => Problem::not_found(format!("没有这个地址 / no route for {method} {path}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_path_names_its_methods_and_an_unknown_one_none() {
        assert_eq!(allowed_methods("/v1/issues"), Some(vec!["GET", "HEAD", "POST"]));
        assert_eq!(allowed_methods("/v1/issues/abc/steps"), Some(vec!["POST"]));
        assert_eq!(allowed_methods("/openapi.json"), Some(vec!["GET", "HEAD"]));
        assert_eq!(allowed_methods("/v1/issues/abc/nothing"), None);
        assert_eq!(allowed_methods("/v1/nope"), None);
    }
}
