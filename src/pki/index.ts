/** The private PKI for mutual TLS between agents and the server, and the server's JWE key. */
export { createCa, loadCa, type Ca, type CreateCaOptions } from './ca.ts';
export { issueAgentCertificate, issueServerCertificate, type IssuedAgent, type IssuedServer, type IssueServerOptions } from './issue.ts';
export { createJweKeyPair, loadJwePrivateKey, loadJwePublicKey, type JweKey, type JweKeyFiles } from './jwe-key.ts';
export { certificateInfo, daysLeft, type CertificateInfo } from './info.ts';
export { defaultServerHosts } from './hosts.ts';
export { addAgent, initPki, inventory, type AddAgentResult, type CertificateEntry, type InitPkiOptions, type InitPkiResult, type PkiInventory } from './setup.ts';
export { agentDir, AGENTS_DIR, CA_CERT, CA_DAYS, CA_KEY, checkAgentName, JWE_PRIVATE, JWE_PUBLIC, LEAF_DAYS, SERVER_CERT, SERVER_KEY } from './layout.ts';
