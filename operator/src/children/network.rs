//! How traffic reaches the web pods: the Service and the optional Ingress.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::workloads::HTTP_PORT_NAME;
use super::{Component, metadata, names, selector_labels};
use crate::crd::TrackerInstance;

/// `{name}-web`: the service port forwards to the pods' named `http` port.
pub fn web_service(ti: &TrackerInstance) -> Service {
    let spec = &ti.spec.web.service;
    let mut meta = metadata(ti, names::web(ti), Component::Web);
    if !spec.annotations.is_empty() {
        meta.annotations = Some(spec.annotations.clone());
    }
    Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            type_: Some(spec.type_.as_str().to_string()),
            selector: Some(selector_labels(ti, Component::Web)),
            ports: Some(vec![ServicePort {
                name: Some(HTTP_PORT_NAME.to_string()),
                port: spec.port,
                target_port: Some(IntOrString::String(HTTP_PORT_NAME.to_string())),
                protocol: Some("TCP".to_string()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// `{name}-web`, only when `spec.web.ingress.enabled`: every path of the
/// host (or of every host) to the web Service.
pub fn web_ingress(ti: &TrackerInstance) -> Option<Ingress> {
    let spec = &ti.spec.web.ingress;
    if !spec.enabled {
        return None;
    }
    let mut meta = metadata(ti, names::web(ti), Component::Web);
    if !spec.annotations.is_empty() {
        meta.annotations = Some(spec.annotations.clone());
    }
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: names::web(ti),
            port: Some(ServiceBackendPort {
                name: Some(HTTP_PORT_NAME.to_string()),
                number: None,
            }),
        }),
        resource: None,
    };
    let tls = spec.tls_secret_name.as_ref().map(|secret| {
        vec![IngressTLS {
            hosts: spec.host.clone().map(|host| vec![host]),
            secret_name: Some(secret.clone()),
        }]
    });
    Some(Ingress {
        metadata: meta,
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(vec![IngressRule {
                host: spec.host.clone(),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".to_string()),
                        path_type: "Prefix".to_string(),
                        backend,
                    }],
                }),
            }]),
            tls,
            default_backend: None,
        }),
        status: None,
    })
}
