// Every OCSF event podflow emits is valid against the OCSF schema it claims
// (1.3.0), checked against the schema itself rather than our reading of it.
// OCSF_1_3_0 below is an excerpt of the official export
// (schema.ocsf.io/1.3.0/export/schema, as shipped in the PyPI package
// ocsf-json-schema 1.2.0, ocsf_json_schema/ocsf/1.3.0.json): the classes
// podflow emits and the objects it fills, each attribute as
// [type or object, requirement, profile, enum captions, caption sibling].
// Enums of more than 40 values are left out (null: not checked; only
// url.category_ids). observableTypes: the observable type_id of every attribute
// of those objects that is an observable, by its type (types.*.observable, e.g.
// ip_t 2, hostname_t 1, port_t 11) or as a dictionary attribute (process.pid 15).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OcsfEncoder, OCSF_SCHEMA_VERSION } from '../../src/proto/ocsf.js';
import { podflow } from '../../src/proto/gen/flow.js';
import type { FlowRecord } from '../../src/pipeline/types.js';
import { sampleRecords, serverViewOfClose } from './pipeline-fixtures.js';

type Attr = [kind: string, requirement: 'req' | 'rec' | 'opt', profile: string, captions?: Record<string, string> | null, sibling?: string];
interface Shape { attrs: Record<string, Attr>; atLeastOne?: string[] }

const OCSF_1_3_0: { classes: Record<string, Shape>; objects: Record<string, Shape>; observableTypes: Record<string, number> } = {
  classes: {
    "0": {"attrs":{"activity_id":["integer","req","",{"0":"Unknown","99":"Other"},"activity_name"],"activity_name":["string","opt",""],"category_name":["string","opt",""],"category_uid":["integer","req","",{"0":"Uncategorized"},"category_name"],"class_name":["string","opt",""],"class_uid":["integer","req","",{"0":"Base Event"},"class_name"],"count":["integer","opt",""],"duration":["integer","opt",""],"end_time":["integer","opt",""],"enrichments":["enrichment[]","opt",""],"message":["string","rec",""],"metadata":["metadata","req",""],"observables":["observable[]","rec",""],"raw_data":["string","opt",""],"severity":["string","opt",""],"severity_id":["integer","req","",{"0":"Unknown","1":"Informational","2":"Low","3":"Medium","4":"High","5":"Critical","6":"Fatal","99":"Other"},"severity"],"start_time":["integer","opt",""],"status":["string","rec",""],"status_code":["string","rec",""],"status_detail":["string","rec",""],"status_id":["integer","rec","",{"0":"Unknown","1":"Success","2":"Failure","99":"Other"},"status"],"time":["integer","req",""],"timezone_offset":["integer","rec",""],"type_name":["string","opt",""],"type_uid":["integer","req","",{"0":"Base Event: Unknown","99":"Base Event: Other"},"type_name"],"unmapped":["object","opt",""]}},
    "4001": {"attrs":{"action":["string","opt","security_control"],"action_id":["integer","req","security_control",{"0":"Unknown","1":"Allowed","2":"Denied","99":"Other"},"action"],"activity_id":["integer","req","",{"0":"Unknown","1":"Open","2":"Close","3":"Reset","4":"Fail","5":"Refuse","6":"Traffic","7":"Listen","99":"Other"},"activity_name"],"activity_name":["string","opt",""],"actor":["actor","opt","host"],"api":["api","opt","cloud"],"app_name":["string","opt",""],"attacks":["attack[]","opt","security_control"],"authorizations":["authorization[]","opt","security_control"],"category_name":["string","opt",""],"category_uid":["integer","req","",{"4":"Network Activity"},"category_name"],"class_name":["string","opt",""],"class_uid":["integer","req","",{"4001":"Network Activity"},"class_name"],"cloud":["cloud","req","cloud"],"connection_info":["network_connection_info","rec",""],"count":["integer","opt",""],"device":["device","rec","host"],"disposition":["string","opt","security_control"],"disposition_id":["integer","rec","security_control",{"0":"Unknown","1":"Allowed","10":"Exonerated","11":"Corrected","12":"Partially Corrected","13":"Uncorrected","14":"Delayed","15":"Detected","16":"No Action","17":"Logged","18":"Tagged","19":"Alert","2":"Blocked","20":"Count","21":"Reset","22":"Captcha","23":"Challenge","24":"Access Revoked","25":"Rejected","26":"Unauthorized","27":"Error","3":"Quarantined","4":"Isolated","5":"Deleted","6":"Dropped","7":"Custom Action","8":"Approved","9":"Restored","99":"Other"},"disposition"],"dst_endpoint":["network_endpoint","req",""],"duration":["integer","opt",""],"end_time":["integer","opt",""],"end_time_dt":["string","opt","datetime"],"enrichments":["enrichment[]","opt",""],"firewall_rule":["firewall_rule","opt","security_control"],"ja4_fingerprint_list":["ja4_fingerprint[]","opt",""],"load_balancer":["load_balancer","rec","load_balancer"],"malware":["malware[]","opt","security_control"],"message":["string","rec",""],"metadata":["metadata","req",""],"observables":["observable[]","rec",""],"osint":["osint[]","req","osint"],"proxy":["network_proxy","rec",""],"proxy_connection_info":["network_connection_info","rec","network_proxy"],"proxy_endpoint":["network_proxy","opt","network_proxy"],"proxy_http_request":["http_request","opt","network_proxy"],"proxy_http_response":["http_response","opt","network_proxy"],"proxy_tls":["tls","rec","network_proxy"],"proxy_traffic":["network_traffic","rec","network_proxy"],"raw_data":["string","opt",""],"severity":["string","opt",""],"severity_id":["integer","req","",{"0":"Unknown","1":"Informational","2":"Low","3":"Medium","4":"High","5":"Critical","6":"Fatal","99":"Other"},"severity"],"src_endpoint":["network_endpoint","rec",""],"start_time":["integer","opt",""],"start_time_dt":["string","opt","datetime"],"status":["string","rec",""],"status_code":["string","rec",""],"status_detail":["string","rec",""],"status_id":["integer","rec","",{"0":"Unknown","1":"Success","2":"Failure","99":"Other"},"status"],"time":["integer","req",""],"time_dt":["string","opt","datetime"],"timezone_offset":["integer","rec",""],"tls":["tls","opt",""],"traffic":["network_traffic","rec",""],"type_name":["string","opt",""],"type_uid":["integer","req","",{"400100":"Network Activity: Unknown","400101":"Network Activity: Open","400102":"Network Activity: Close","400103":"Network Activity: Reset","400104":"Network Activity: Fail","400105":"Network Activity: Refuse","400106":"Network Activity: Traffic","400107":"Network Activity: Listen","400199":"Network Activity: Other"},"type_name"],"unmapped":["object","opt",""],"url":["url","rec",""]}},
    "4003": {"attrs":{"action":["string","opt","security_control"],"action_id":["integer","req","security_control",{"0":"Unknown","1":"Allowed","2":"Denied","99":"Other"},"action"],"activity_id":["integer","req","",{"0":"Unknown","1":"Query","2":"Response","6":"Traffic","99":"Other"},"activity_name"],"activity_name":["string","opt",""],"actor":["actor","opt","host"],"answers":["dns_answer[]","rec",""],"api":["api","opt","cloud"],"app_name":["string","opt",""],"attacks":["attack[]","opt","security_control"],"authorizations":["authorization[]","opt","security_control"],"category_name":["string","opt",""],"category_uid":["integer","req","",{"4":"Network Activity"},"category_name"],"class_name":["string","opt",""],"class_uid":["integer","req","",{"4003":"DNS Activity"},"class_name"],"cloud":["cloud","req","cloud"],"connection_info":["network_connection_info","opt",""],"count":["integer","opt",""],"device":["device","rec","host"],"disposition":["string","opt","security_control"],"disposition_id":["integer","rec","security_control",{"0":"Unknown","1":"Allowed","10":"Exonerated","11":"Corrected","12":"Partially Corrected","13":"Uncorrected","14":"Delayed","15":"Detected","16":"No Action","17":"Logged","18":"Tagged","19":"Alert","2":"Blocked","20":"Count","21":"Reset","22":"Captcha","23":"Challenge","24":"Access Revoked","25":"Rejected","26":"Unauthorized","27":"Error","3":"Quarantined","4":"Isolated","5":"Deleted","6":"Dropped","7":"Custom Action","8":"Approved","9":"Restored","99":"Other"},"disposition"],"dst_endpoint":["network_endpoint","rec",""],"duration":["integer","opt",""],"end_time":["integer","opt",""],"end_time_dt":["string","opt","datetime"],"enrichments":["enrichment[]","opt",""],"firewall_rule":["firewall_rule","opt","security_control"],"ja4_fingerprint_list":["ja4_fingerprint[]","opt",""],"load_balancer":["load_balancer","rec","load_balancer"],"malware":["malware[]","opt","security_control"],"message":["string","rec",""],"metadata":["metadata","req",""],"observables":["observable[]","rec",""],"osint":["osint[]","req","osint"],"proxy":["network_proxy","rec",""],"proxy_connection_info":["network_connection_info","rec","network_proxy"],"proxy_endpoint":["network_proxy","opt","network_proxy"],"proxy_http_request":["http_request","opt","network_proxy"],"proxy_http_response":["http_response","opt","network_proxy"],"proxy_tls":["tls","rec","network_proxy"],"proxy_traffic":["network_traffic","rec","network_proxy"],"query":["dns_query","rec",""],"query_time":["integer","rec",""],"query_time_dt":["string","opt","datetime"],"raw_data":["string","opt",""],"rcode":["string","rec",""],"rcode_id":["integer","rec","",{"0":"NoError","1":"FormError","10":"NotZone","11":"DSOTYPENI","16":"BADSIG_VERS","17":"BADKEY","18":"BADTIME","19":"BADMODE","2":"ServError","20":"BADNAME","21":"BADALG","22":"BADTRUNC","23":"BADCOOKIE","24":"Unassigned","25":"Reserved","3":"NXDomain","4":"NotImp","5":"Refused","6":"YXDomain","7":"YXRRSet","8":"NXRRSet","9":"NotAuth","99":"Other"},"rcode"],"response_time":["integer","rec",""],"response_time_dt":["string","opt","datetime"],"severity":["string","opt",""],"severity_id":["integer","req","",{"0":"Unknown","1":"Informational","2":"Low","3":"Medium","4":"High","5":"Critical","6":"Fatal","99":"Other"},"severity"],"src_endpoint":["network_endpoint","rec",""],"start_time":["integer","opt",""],"start_time_dt":["string","opt","datetime"],"status":["string","rec",""],"status_code":["string","rec",""],"status_detail":["string","rec",""],"status_id":["integer","rec","",{"0":"Unknown","1":"Success","2":"Failure","99":"Other"},"status"],"time":["integer","req",""],"time_dt":["string","opt","datetime"],"timezone_offset":["integer","rec",""],"tls":["tls","opt",""],"traffic":["network_traffic","opt",""],"type_name":["string","opt",""],"type_uid":["integer","req","",{"400300":"DNS Activity: Unknown","400301":"DNS Activity: Query","400302":"DNS Activity: Response","400306":"DNS Activity: Traffic","400399":"DNS Activity: Other"},"type_name"],"unmapped":["object","opt",""]}},
    "4002": {"attrs":{"action":["string","opt","security_control"],"action_id":["integer","req","security_control",{"0":"Unknown","1":"Allowed","2":"Denied","99":"Other"},"action"],"activity_id":["integer","req","",{"0":"Unknown","1":"Connect","2":"Delete","3":"Get","4":"Head","5":"Options","6":"Post","7":"Put","8":"Trace","99":"Other"},"activity_name"],"activity_name":["string","opt",""],"actor":["actor","opt","host"],"api":["api","opt","cloud"],"app_name":["string","opt",""],"attacks":["attack[]","opt","security_control"],"authorizations":["authorization[]","opt","security_control"],"category_name":["string","opt",""],"category_uid":["integer","req","",{"4":"Network Activity"},"category_name"],"class_name":["string","opt",""],"class_uid":["integer","req","",{"4002":"HTTP Activity"},"class_name"],"cloud":["cloud","req","cloud"],"connection_info":["network_connection_info","rec",""],"count":["integer","opt",""],"device":["device","rec","host"],"disposition":["string","opt","security_control"],"disposition_id":["integer","rec","security_control",{"0":"Unknown","1":"Allowed","10":"Exonerated","11":"Corrected","12":"Partially Corrected","13":"Uncorrected","14":"Delayed","15":"Detected","16":"No Action","17":"Logged","18":"Tagged","19":"Alert","2":"Blocked","20":"Count","21":"Reset","22":"Captcha","23":"Challenge","24":"Access Revoked","25":"Rejected","26":"Unauthorized","27":"Error","3":"Quarantined","4":"Isolated","5":"Deleted","6":"Dropped","7":"Custom Action","8":"Approved","9":"Restored","99":"Other"},"disposition"],"dst_endpoint":["network_endpoint","req",""],"duration":["integer","opt",""],"end_time":["integer","opt",""],"end_time_dt":["string","opt","datetime"],"enrichments":["enrichment[]","opt",""],"file":["file","opt",""],"firewall_rule":["firewall_rule","opt","security_control"],"http_cookies":["http_cookie[]","rec",""],"http_request":["http_request","req",""],"http_response":["http_response","req",""],"http_status":["integer","rec",""],"ja4_fingerprint_list":["ja4_fingerprint[]","opt",""],"load_balancer":["load_balancer","rec","load_balancer"],"malware":["malware[]","opt","security_control"],"message":["string","rec",""],"metadata":["metadata","req",""],"observables":["observable[]","rec",""],"osint":["osint[]","req","osint"],"proxy":["network_proxy","rec",""],"proxy_connection_info":["network_connection_info","rec","network_proxy"],"proxy_endpoint":["network_proxy","opt","network_proxy"],"proxy_http_request":["http_request","opt","network_proxy"],"proxy_http_response":["http_response","opt","network_proxy"],"proxy_tls":["tls","rec","network_proxy"],"proxy_traffic":["network_traffic","rec","network_proxy"],"raw_data":["string","opt",""],"severity":["string","opt",""],"severity_id":["integer","req","",{"0":"Unknown","1":"Informational","2":"Low","3":"Medium","4":"High","5":"Critical","6":"Fatal","99":"Other"},"severity"],"src_endpoint":["network_endpoint","rec",""],"start_time":["integer","opt",""],"start_time_dt":["string","opt","datetime"],"status":["string","rec",""],"status_code":["string","rec",""],"status_detail":["string","rec",""],"status_id":["integer","rec","",{"0":"Unknown","1":"Success","2":"Failure","99":"Other"},"status"],"time":["integer","req",""],"time_dt":["string","opt","datetime"],"timezone_offset":["integer","rec",""],"tls":["tls","opt",""],"traffic":["network_traffic","rec",""],"type_name":["string","opt",""],"type_uid":["integer","req","",{"400200":"HTTP Activity: Unknown","400201":"HTTP Activity: Connect","400202":"HTTP Activity: Delete","400203":"HTTP Activity: Get","400204":"HTTP Activity: Head","400205":"HTTP Activity: Options","400206":"HTTP Activity: Post","400207":"HTTP Activity: Put","400208":"HTTP Activity: Trace","400299":"HTTP Activity: Other"},"type_name"],"unmapped":["object","opt",""]}},
  },
  objects: {
    "metadata": {"attrs":{"correlation_uid":["string","opt",""],"data_classification":["data_classification","rec","data_classification"],"event_code":["string","opt",""],"extension":["extension","opt",""],"extensions":["extension[]","opt",""],"labels":["string[]","opt",""],"log_level":["string","opt",""],"log_name":["string","rec",""],"log_provider":["string","rec",""],"log_version":["string","opt",""],"logged_time":["integer","opt",""],"logged_time_dt":["string","opt","datetime"],"loggers":["logger[]","opt",""],"modified_time":["integer","opt",""],"modified_time_dt":["string","opt","datetime"],"original_time":["string","rec",""],"processed_time":["integer","opt",""],"processed_time_dt":["string","opt","datetime"],"product":["product","req",""],"profiles":["string[]","opt",""],"sequence":["integer","opt",""],"tenant_uid":["string","rec",""],"uid":["string","opt",""],"version":["string","req",""]}},
    "product": {"attrs":{"cpe_name":["string","opt",""],"data_classification":["data_classification","rec","data_classification"],"feature":["feature","opt",""],"lang":["string","opt",""],"name":["string","rec",""],"path":["string","opt",""],"uid":["string","rec",""],"url_string":["string","opt",""],"vendor_name":["string","req",""],"version":["string","rec",""]},"atLeastOne":["name","uid"]},
    "device": {"attrs":{"agent_list":["agent[]","opt",""],"autoscale_uid":["string","opt",""],"boot_time":["integer","opt",""],"boot_time_dt":["string","opt","datetime"],"container":["container","rec","container"],"created_time":["integer","opt",""],"created_time_dt":["string","opt","datetime"],"desc":["string","opt",""],"domain":["string","opt",""],"first_seen_time":["integer","opt",""],"first_seen_time_dt":["string","opt","datetime"],"groups":["group[]","opt",""],"hostname":["string","rec",""],"hw_info":["device_hw_info","opt",""],"hypervisor":["string","opt",""],"image":["image","opt",""],"imei":["string","opt",""],"instance_uid":["string","rec",""],"interface_name":["string","rec",""],"interface_uid":["string","rec",""],"ip":["string","opt",""],"is_compliant":["boolean","opt",""],"is_managed":["boolean","opt",""],"is_personal":["boolean","opt",""],"is_trusted":["boolean","opt",""],"last_seen_time":["integer","opt",""],"last_seen_time_dt":["string","opt","datetime"],"location":["location","opt",""],"mac":["string","opt",""],"modified_time":["integer","opt",""],"modified_time_dt":["string","opt","datetime"],"name":["string","opt",""],"namespace_pid":["integer","rec","container"],"network_interfaces":["network_interface[]","opt",""],"org":["organization","opt",""],"os":["os","opt",""],"owner":["user","rec",""],"region":["string","rec",""],"risk_level":["string","opt",""],"risk_level_id":["integer","opt","",{"0":"Info","1":"Low","2":"Medium","3":"High","4":"Critical","99":"Other"},"risk_level"],"risk_score":["integer","opt",""],"subnet":["string","opt",""],"subnet_uid":["string","opt",""],"type":["string","rec",""],"type_id":["integer","req","",{"0":"Unknown","1":"Server","10":"Switch","11":"Hub","12":"Router","13":"IDS","14":"IPS","15":"Load Balancer","2":"Desktop","3":"Laptop","4":"Tablet","5":"Mobile","6":"Virtual","7":"IOT","8":"Browser","9":"Firewall","99":"Other"},"type"],"uid":["string","rec",""],"uid_alt":["string","opt",""],"vlan_uid":["string","opt",""],"vpc_uid":["string","opt",""],"zone":["string","opt",""]},"atLeastOne":["ip","uid","name","hostname","instance_uid","interface_uid","interface_name"]},
    "network_endpoint": {"attrs":{"agent_list":["agent[]","opt",""],"autonomous_system":["autonomous_system","opt",""],"container":["container","rec","container"],"domain":["string","opt",""],"hostname":["string","rec",""],"hw_info":["device_hw_info","opt",""],"instance_uid":["string","rec",""],"interface_name":["string","rec",""],"interface_uid":["string","rec",""],"intermediate_ips":["string[]","opt",""],"ip":["string","rec",""],"location":["location","opt",""],"mac":["string","opt",""],"name":["string","rec",""],"namespace_pid":["integer","rec","container"],"os":["os","opt",""],"owner":["user","rec",""],"port":["integer","rec",""],"proxy_endpoint":["network_proxy","opt",""],"subnet_uid":["string","opt",""],"svc_name":["string","rec",""],"type":["string","opt",""],"type_id":["integer","rec","",{"0":"Unknown","1":"Server","10":"Switch","11":"Hub","12":"Router","13":"IDS","14":"IPS","15":"Load Balancer","2":"Desktop","3":"Laptop","4":"Tablet","5":"Mobile","6":"Virtual","7":"IOT","8":"Browser","9":"Firewall","99":"Other"},"type"],"uid":["string","rec",""],"vlan_uid":["string","opt",""],"vpc_uid":["string","opt",""],"zone":["string","opt",""]},"atLeastOne":["ip","uid","name","hostname","svc_name","instance_uid","interface_uid","interface_name"]},
    "network_connection_info": {"attrs":{"boundary":["string","opt",""],"boundary_id":["integer","rec","",{"0":"Unknown","1":"Localhost","10":"Gateway VPC","11":"Internet Gateway","2":"Internal","3":"External","4":"Same VPC","5":"Internet/VPC Gateway","6":"Virtual Private Gateway","7":"Intra-region VPC","8":"Inter-region VPC","9":"Local Gateway","99":"Other"},"boundary"],"direction":["string","opt",""],"direction_id":["integer","req","",{"0":"Unknown","1":"Inbound","2":"Outbound","3":"Lateral","99":"Other"},"direction"],"protocol_name":["string","rec",""],"protocol_num":["integer","rec",""],"protocol_ver":["string","opt",""],"protocol_ver_id":["integer","rec","",{"0":"Unknown","4":"Internet Protocol version 4 (IPv4)","6":"Internet Protocol version 6 (IPv6)","99":"Other"},"protocol_ver"],"session":["session","opt",""],"tcp_flags":["integer","opt",""],"uid":["string","rec",""]}},
    "network_traffic": {"attrs":{"bytes":["integer","rec",""],"bytes_in":["integer","opt",""],"bytes_out":["integer","opt",""],"chunks":["integer","opt",""],"chunks_in":["integer","opt",""],"chunks_out":["integer","opt",""],"packets":["integer","rec",""],"packets_in":["integer","opt",""],"packets_out":["integer","opt",""]}},
    "actor": {"attrs":{"app_name":["string","opt",""],"app_uid":["string","opt",""],"authorizations":["authorization[]","opt",""],"idp":["idp","opt",""],"invoked_by":["string","opt",""],"process":["process","rec",""],"session":["session","opt",""],"user":["user","rec",""]},"atLeastOne":["process","user","invoked_by","session","app_name","app_uid"]},
    "process": {"attrs":{"auid":["integer","opt","linux/linux_users"],"cmd_line":["string","rec",""],"container":["container","rec","container"],"created_time":["integer","rec",""],"created_time_dt":["string","opt","datetime"],"egid":["integer","opt","linux/linux_users"],"euid":["integer","opt","linux/linux_users"],"file":["file","rec",""],"group":["group","rec","linux/linux_users"],"integrity":["string","opt",""],"integrity_id":["integer","opt","",{"0":"Unknown","1":"Untrusted","2":"Low","3":"Medium","4":"High","5":"System","6":"Protected","99":"Other"},"integrity"],"lineage":["string[]","opt",""],"loaded_modules":["string[]","opt",""],"name":["string","rec",""],"namespace_pid":["integer","rec","container"],"parent_process":["process","rec",""],"pid":["integer","rec",""],"sandbox":["string","opt",""],"session":["session","opt",""],"terminated_time":["integer","opt",""],"terminated_time_dt":["string","opt","datetime"],"tid":["integer","opt",""],"uid":["string","rec",""],"user":["user","rec",""],"xattributes":["object","opt",""]},"atLeastOne":["pid","uid"]},
    "container": {"attrs":{"hash":["fingerprint","rec",""],"image":["image","rec",""],"name":["string","rec",""],"network_driver":["string","opt",""],"orchestrator":["string","opt",""],"pod_uuid":["string","opt",""],"runtime":["string","opt",""],"size":["integer","rec",""],"tag":["string","opt",""],"uid":["string","rec",""]},"atLeastOne":["uid","name"]},
    "http_request": {"attrs":{"args":["string","opt",""],"http_headers":["http_header[]","rec",""],"http_method":["string","rec","",{"CONNECT":"Connect","DELETE":"Delete","GET":"Get","HEAD":"Head","OPTIONS":"Options","POST":"Post","PUT":"Put","TRACE":"Trace"}],"length":["integer","opt",""],"referrer":["string","opt",""],"uid":["string","opt",""],"url":["url","rec",""],"user_agent":["string","rec",""],"version":["string","rec",""],"x_forwarded_for":["string[]","opt",""]}},
    "http_response": {"attrs":{"code":["integer","req",""],"content_type":["string","opt",""],"http_headers":["http_header[]","rec",""],"latency":["integer","opt",""],"length":["integer","opt",""],"message":["string","opt",""],"status":["string","opt",""]}},
    "url": {"attrs":{"categories":["string[]","opt",""],"category_ids":["integer[]","rec","",null,"categories"],"domain":["string","opt",""],"hostname":["string","rec",""],"path":["string","rec",""],"port":["integer","rec",""],"query_string":["string","rec",""],"resource_type":["string","opt",""],"scheme":["string","rec",""],"subdomain":["string","opt",""],"url_string":["string","rec",""]},"atLeastOne":["url_string","path"]},
    "dns_query": {"attrs":{"class":["string","rec",""],"hostname":["string","req",""],"opcode":["string","opt",""],"opcode_id":["integer","rec","",{"0":"Query","1":"Inverse Query","2":"Status","3":"Reserved","4":"Notify","5":"Update","6":"DSO Message","99":"Other"}],"packet_uid":["integer","rec",""],"type":["string","rec",""]}},
    "dns_answer": {"attrs":{"class":["string","rec",""],"flag_ids":["integer[]","rec","",{"0":"Unknown","1":"Authoritative Answer","2":"Truncated Response","3":"Recursion Desired","4":"Recursion Available","5":"Authentic Data","6":"Checking Disabled","99":"Other"},"flags"],"flags":["string[]","opt",""],"packet_uid":["integer","rec",""],"rdata":["string","req",""],"ttl":["integer","rec",""],"type":["string","rec",""]}},
    "network_proxy": {"attrs":{"agent_list":["agent[]","opt",""],"autonomous_system":["autonomous_system","opt",""],"container":["container","rec","container"],"domain":["string","opt",""],"hostname":["string","rec",""],"hw_info":["device_hw_info","opt",""],"instance_uid":["string","rec",""],"interface_name":["string","rec",""],"interface_uid":["string","rec",""],"intermediate_ips":["string[]","opt",""],"ip":["string","rec",""],"location":["location","opt",""],"mac":["string","opt",""],"name":["string","rec",""],"namespace_pid":["integer","rec","container"],"os":["os","opt",""],"owner":["user","rec",""],"port":["integer","rec",""],"proxy_endpoint":["network_proxy","opt",""],"subnet_uid":["string","opt",""],"svc_name":["string","rec",""],"type":["string","opt",""],"type_id":["integer","rec","",{"0":"Unknown","1":"Server","10":"Switch","11":"Hub","12":"Router","13":"IDS","14":"IPS","15":"Load Balancer","2":"Desktop","3":"Laptop","4":"Tablet","5":"Mobile","6":"Virtual","7":"IOT","8":"Browser","9":"Firewall","99":"Other"},"type"],"uid":["string","rec",""],"vlan_uid":["string","opt",""],"vpc_uid":["string","opt",""],"zone":["string","opt",""]},"atLeastOne":["ip","uid","name","hostname","svc_name","instance_uid","interface_uid","interface_name"]},
    "observable": {"attrs":{"name":["string","req",""],"reputation":["reputation","opt",""],"type":["string","opt",""],"type_id":["integer","req","",{"0":"Unknown","1":"Hostname","10":"Resource UID","11":"Port","12":"Subnet","13":"Command Line","14":"Country","15":"Process ID","16":"HTTP User-Agent","17":"CWE Object: uid","18":"CVE Object: uid","19":"User Credential ID","2":"IP Address","20":"Endpoint","21":"User","22":"Email","23":"Uniform Resource Locator","24":"File","25":"Process","26":"Geo Location","27":"Container","28":"Registry Key","29":"Registry Value","3":"MAC Address","30":"Fingerprint","4":"User Name","5":"Email Address","6":"URL String","7":"File Name","8":"Hash","9":"Process Name","99":"Other"},"type"],"value":["string","opt",""]}},
  },
  observableTypes: {"product.url_string":6,"device.hostname":1,"device.ip":2,"device.mac":3,"device.subnet":12,"network_endpoint.hostname":1,"network_endpoint.intermediate_ips":2,"network_endpoint.ip":2,"network_endpoint.mac":3,"network_endpoint.port":11,"process.cmd_line":13,"process.name":9,"process.pid":15,"http_request.user_agent":16,"http_request.x_forwarded_for":2,"url.hostname":1,"url.port":11,"url.url_string":6,"dns_query.hostname":1,"network_proxy.hostname":1,"network_proxy.intermediate_ips":2,"network_proxy.ip":2,"network_proxy.mac":3,"network_proxy.port":11},
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkValue(kind: string, v: unknown, profiles: string[], path: string, errors: string[]): void {
  if (kind.endsWith('[]')) {
    if (!Array.isArray(v)) errors.push(`${path}: expected an array`);
    else v.forEach((item, i) => checkValue(kind.slice(0, -2), item, profiles, `${path}[${i}]`, errors));
    return;
  }
  const ok = kind === 'integer' ? Number.isInteger(v)
    : kind === 'number' ? typeof v === 'number'
    : kind === 'string' ? typeof v === 'string'
    : kind === 'boolean' ? typeof v === 'boolean'
    : kind === 'any' ? true
    : isObj(v);
  if (!ok) {
    errors.push(`${path}: ${JSON.stringify(v)} is not ${kind}`);
    return;
  }
  const shape = OCSF_1_3_0.objects[kind];
  if (shape) checkObject(v as Obj, shape, profiles, `${path}.`, errors);
}

/** Appends what is wrong with `value` as an instance of `shape` (with `profiles` applied). */
function checkObject(value: Obj, shape: Shape, profiles: string[], path: string, errors: string[]): void {
  for (const [name, [, requirement, profile]] of Object.entries(shape.attrs)) {
    if (requirement === 'req' && (!profile || profiles.includes(profile)) && value[name] === undefined) errors.push(`${path}${name}: required, missing`);
  }
  if (shape.atLeastOne && !shape.atLeastOne.some((k) => value[k] !== undefined)) errors.push(`${path.replace(/\.$/, '') || '(event)'}: needs one of ${shape.atLeastOne.join(', ')}`);
  for (const [name, v] of Object.entries(value)) {
    const attr = shape.attrs[name];
    if (!attr) {
      errors.push(`${path}${name}: not an attribute of this object`);
      continue;
    }
    const [kind, , profile, captions, sibling] = attr;
    if (profile && !profiles.includes(profile)) errors.push(`${path}${name}: belongs to profile ${profile}, not in metadata.profiles`);
    checkValue(kind, v, profiles, `${path}${name}`, errors);
    if (!captions) continue;
    const caption = captions[String(v)];
    // http_method PATCH: OCSF 1.3.0 has no such value, and podflow reports the method it saw.
    if (caption === undefined && !(name === 'http_method' && v === 'PATCH')) errors.push(`${path}${name}: ${JSON.stringify(v)} is not one of ${Object.keys(captions).join(', ')}`);
    // An enum's caption attribute holds its caption (the source's own word for Other, 99).
    if (sibling && caption !== undefined) {
      if (value[sibling] === undefined) errors.push(`${path}${name}: ${String(v)} without its caption ${sibling}`);
      else if (v !== 99 && value[sibling] !== caption) errors.push(`${path}${sibling}: ${JSON.stringify(value[sibling])}, the caption of ${name} ${String(v)} is ${JSON.stringify(caption)}`);
    }
  }
}

function validate(event: Obj): string[] {
  const errors: string[] = [];
  const shape = OCSF_1_3_0.classes[String(event.class_uid)];
  if (!shape) return [`class_uid ${String(event.class_uid)} is not a class podflow may emit`];
  const metadata = isObj(event.metadata) ? event.metadata : {};
  const profiles = Array.isArray(metadata.profiles) ? (metadata.profiles as string[]) : [];
  checkObject(event, shape, profiles, '', errors);
  if (metadata.version !== '1.3.0') errors.push(`metadata.version ${String(metadata.version)}: the excerpt is 1.3.0`);
  return errors;
}

const encoder = new OcsfEncoder({ productVersion: '0.1.0' });

/** Records beyond the fixtures: the corners of each class. */
function variants(): Record<string, FlowRecord> {
  const r = sampleRecords();
  const http = r.HTTP;
  const dns = r.DNS;
  return {
    ...r,
    'TCP_CLOSE (server view)': serverViewOfClose(r.TCP_CLOSE),
    'TCP_FAILED (timeout)': { ...r.TCP_FAILED, tcp: { state: 'SYN_SENT', failure: 'TIMEOUT' } },
    'TCP_OPEN (container)': {
      ...r.TCP_OPEN,
      source: { ...r.TCP_OPEN.source, pod: { ...r.TCP_OPEN.source!.pod, container: 'app' } },
      process: { pid: 7, command: 'app', containerId: 'c0c0' },
    },
    // An accepted socket's process context is its cgroup only: no pid.
    'TCP_OPEN (accepted, container only)': { ...r.TCP_OPEN, process: { cgroupId: 99, containerId: 'c0c0' }, observation: { probe: 'tcp', hook: 'h', side: podflow.v1.Side.SERVER } },
    'FLOW (ingress, host network)': { ...r.FLOW, direction: podflow.v1.Direction.INGRESS, source: { ip: '10.0.0.1', node: 'node-a', hostNetwork: true } },
    'HTTP PATCH': { ...http, http: { ...http.http, method: 'PATCH' } },
    'HTTP without response': { ...http, http: { ...http.http, status: 0, noResponse: 'TIMEOUT', latency: { seconds: 30 } } },
    'HTTP Host with port': { ...http, http: { ...http.http, host: 'backend.default.svc:8080' } },
    'HTTP absolute-form': { ...http, http: { ...http.http, path: 'http://backend.default.svc:8080/api/users', host: 'backend.default.svc:8080' } },
    'HTTP query string kept': { ...http, http: { ...http.http, path: '/api/users?page=2' } },
    'HTTP IPv6 Host': { ...http, http: { ...http.http, host: '[fd00::20]:8080' } },
    'DNS NXDOMAIN': { ...dns, dns: { ...dns.dns, rcode: 'NXDOMAIN', answers: [] } },
    'DNS SERVFAIL': { ...dns, dns: { ...dns.dns, rcode: 'SERVFAIL', answers: [] } },
    'DNS TIMEOUT': { ...dns, dns: { ...dns.dns, rcode: 'TIMEOUT', answers: [], latency: { seconds: 5 } } },
    'DNS root query': { ...dns, dns: { ...dns.dns, query: '', qtype: 'NS' } },
    'DROP (no endpoints enriched)': { ...r.DROP, source: { ip: '10.9.9.9', port: 1 }, destination: { ip: '10.9.9.8', port: 2 } },
    'HTTP via a Service ClusterIP': { ...http, originalDestination: { ip: '10.96.0.20', port: 80, service: { name: 'backend', namespace: 'default' } } },
    'TCP_OPEN via an unresolved ClusterIP': { ...r.TCP_OPEN, originalDestination: { ip: 'fd00:96::1', port: 443 } },
    'FLOW (no node name)': { ...r.FLOW, nodeName: '' },
    'HTTP absolute-form via a Service, host-network client': {
      ...http,
      source: { ip: '10.0.0.1', port: 40000, node: 'node-a', hostNetwork: true },
      http: { ...http.http, path: 'http://backend.default.svc:8080/api/users', host: 'backend.default.svc:8080' },
      originalDestination: { ip: '10.96.0.20', port: 8080, service: { name: 'backend', namespace: 'default' } },
      process: { pid: 7, command: 'curl' },
    },
  };
}

for (const [name, record] of Object.entries(variants())) {
  test(`OCSF 1.3.0: ${name} is a valid event of its class`, () => {
    const event = JSON.parse(encoder.encode(record)) as Obj;
    assert.deepEqual(validate(event), []);
  });
}

test('the schema version podflow claims is the one checked here', () => {
  assert.equal(OCSF_SCHEMA_VERSION, '1.3.0');
});

test('the validator itself catches what it should', () => {
  const event = JSON.parse(encoder.encode(sampleRecords().TCP_CLOSE)) as Obj;
  assert.ok(validate({ ...event, activity_id: 8, type_uid: 400108 }).some((e) => e.startsWith('activity_id:')));
  assert.ok(validate({ ...event, src_endpoint: { ip: '10.0.0.1', k8s: {} } }).some((e) => e.includes('src_endpoint.k8s')));
  assert.ok(validate({ ...event, time: 1.5 }).some((e) => e.startsWith('time:')));
  assert.ok(validate({ ...event, metadata: { ...(event.metadata as Obj), profiles: [] } }).some((e) => e.includes('profile host')));
  assert.ok(validate({ ...event, observables: [{ name: 'src_endpoint.ip', type_id: 2, type: 'IP', value: '10.0.0.1' }] }).some((e) => e.startsWith('observables[0].type:')));
  assert.ok(validate({ ...event, observables: [{ type_id: 2, type: 'IP Address', value: '10.0.0.1' }] }).some((e) => e.startsWith('observables[0].name:')));
  assert.ok(validate({ ...event, dst_endpoint: { ip: '10.0.0.2', proxy_endpoint: { ip: '10.96.0.1', k8s: {} } } }).some((e) => e.includes('proxy_endpoint.k8s')));
});

test('HTTP: the Host header is hostname and port; an absolute-form target is the url_string', () => {
  const r = variants();
  const url = (name: string) => ((encoder.toOcsf(r[name]) as { http_request: { url: Obj } }).http_request.url);
  assert.deepEqual(url('HTTP Host with port'), { path: '/api/users', hostname: 'backend.default.svc', port: 8080 });
  assert.deepEqual(url('HTTP IPv6 Host'), { path: '/api/users', hostname: 'fd00::20', port: 8080 });
  assert.deepEqual(url('HTTP absolute-form'), { url_string: 'http://backend.default.svc:8080/api/users', scheme: 'http', path: '/api/users', hostname: 'backend.default.svc', port: 8080 });
  // A query string kept (redaction.httpQueryStrings: false) is OCSF's query_string.
  assert.deepEqual(url('HTTP query string kept'), { path: '/api/users', query_string: 'page=2', hostname: 'backend' });
  const patch = encoder.toOcsf(r['HTTP PATCH']);
  assert.deepEqual([patch.activity_id, patch.activity_name, patch.type_uid, patch.type_name], [99, 'Patch', 400299, 'HTTP Activity: Other']);
  assert.equal((patch.http_request as Obj).http_method, 'PATCH');
  const noResponse = encoder.toOcsf(r['HTTP without response']);
  assert.deepEqual(noResponse.http_response, { code: 0 });
  assert.equal(noResponse.http_status, undefined);
  assert.equal(noResponse.status_detail, 'no response: TIMEOUT');
});

test('DNS: rcode carries the OCSF caption; a query without response is a failed Query, not an rcode', () => {
  const r = variants();
  const nx = encoder.toOcsf(r['DNS NXDOMAIN']);
  assert.deepEqual([nx.rcode_id, nx.rcode, nx.activity_id], [3, 'NXDomain', 6]);
  assert.deepEqual([encoder.toOcsf(r['DNS SERVFAIL']).rcode_id, encoder.toOcsf(r['DNS SERVFAIL']).rcode], [2, 'ServError']);
  const timeout = encoder.toOcsf(r['DNS TIMEOUT']);
  assert.deepEqual([timeout.activity_id, timeout.activity_name, timeout.status_id, timeout.status, timeout.status_detail], [1, 'Query', 2, 'Failure', 'TIMEOUT']);
  assert.equal(timeout.rcode_id, undefined);
  assert.equal(timeout.rcode, undefined);
  assert.equal(timeout.response_time, undefined);
  assert.equal((encoder.toOcsf(r['DNS root query']).query as Obj).hostname, '.');
});

test('endpoints: Kubernetes metadata is unmapped, the Service is svc_name, the node is no pod\'s hostname', () => {
  const r = variants();
  const flow = encoder.toOcsf(r.FLOW) as Obj & { src_endpoint: Obj; dst_endpoint: Obj; unmapped: Obj };
  assert.deepEqual(flow.dst_endpoint, { ip: '10.236.2.20', port: 8080, name: 'default/backend-5c2', uid: 'uid-be', svc_name: 'backend' });
  assert.deepEqual(flow.unmapped.dst_k8s, { namespace: 'default', pod: 'backend-5c2', workload: 'Deployment/backend', service: 'default/backend', labels: { app: 'backend' }, node: 'node-b' });
  assert.deepEqual(flow.unmapped.src_k8s, { namespace: 'default', pod: 'frontend-7d9', workload: 'Deployment/frontend', labels: { app: 'frontend', tier: 'web' }, node: 'node-a' });
  const host = encoder.toOcsf(r['FLOW (ingress, host network)']) as Obj & { src_endpoint: Obj };
  assert.equal(host.src_endpoint.hostname, 'node-a');
});

test('connection_info.direction_id is the connection\'s direction across the cluster boundary, with its caption', () => {
  const r = variants();
  const dir = (rec: FlowRecord) => { const c = encoder.toOcsf(rec).connection_info as Obj; return [c.direction_id, c.direction]; };
  assert.deepEqual(dir(r.FLOW), [3, 'Lateral']);
  assert.deepEqual(dir(r.TCP_FAILED), [2, 'Outbound']);
  assert.deepEqual(dir({ ...r.TCP_OPEN, source: { ip: '203.0.113.9', port: 5555 } }), [1, 'Inbound']);
  assert.deepEqual(dir(r['DROP (no endpoints enriched)']), [0, 'Unknown']);
  // The packets' direction at the interface is not the connection's: it stays, unmapped.
  assert.equal((encoder.toOcsf(r.DROP).unmapped as Obj).direction, 'INGRESS');
  assert.equal((encoder.toOcsf(r.FLOW).connection_info as Obj).protocol_ver, 'Internet Protocol version 4 (IPv4)');
});

/** Each attribute of `value` (an instance of `kind`) whose 1.3.0 type makes it an observable, with its path: [path, type_id, value]. */
function observableValues(value: Obj, kind: string, path: string, out: [string, number, string][]): void {
  const shape = OCSF_1_3_0.objects[kind] ?? OCSF_1_3_0.classes[kind];
  for (const [name, v] of Object.entries(value)) {
    const attr = shape?.attrs[name];
    if (!attr || name === 'observables') continue;
    const typeId = OCSF_1_3_0.observableTypes[`${kind}.${name}`];
    if (typeId !== undefined) out.push([`${path}${name}`, typeId, String(v)]);
    else if (isObj(v)) observableValues(v, attr[0], `${path}${name}.`, out);
  }
}

// Left out on purpose: the client's ephemeral port and the pid identify nothing beyond one
// connection on one host (and would make every event a pivot of its own).
const NOT_OBSERVABLES = new Set(['src_endpoint.port', 'actor.process.pid']);

test('observables are every pivot value of the event (by its 1.3.0 type), named by its path', () => {
  for (const [name, record] of Object.entries(variants())) {
    const event = JSON.parse(encoder.encode(record)) as Obj;
    const expected: [string, number, string][] = [];
    observableValues(event, String(event.class_uid), '', expected);
    const listed = ((event.observables ?? []) as Obj[]).map((o) => [o.name, o.type_id, o.value]).sort();
    assert.deepEqual(listed, expected.filter(([path]) => !NOT_OBSERVABLES.has(path)).sort(), name);
  }
});
