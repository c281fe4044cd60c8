// Verifies the portal's credentials and reads their status with the Verifiable Credentials
// ecosystem's own libraries. Input (argv[2], JSON): {"documents": {url: document},
// "credentials": {name: credential}}: the documents (contexts, the DID document, the status
// list credentials) are all the document loader serves; nothing is fetched from the network.
// Output (stdout, JSON): {name: {"verified", "errors", "status": {purpose: bool}}}.
import {readFileSync} from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const documents = input.documents;

async function documentLoader(url) {
  const [base, fragment] = url.split('#');
  const document = documents[url] ?? documents[base];
  if(document === undefined) {
    throw new Error(`document not given to the verifier: ${url}`);
  }
  if(fragment !== undefined && url.startsWith('did:')) {
    // A verification method: the DID document's entry, in the DID document's context.
    const method = document.verificationMethod.find(m => m.id === url);
    if(!method) {
      throw new Error(`no verification method ${url} in the DID document`);
    }
    return {contextUrl: null, documentUrl: url,
      document: {'@context': document['@context'], ...method}};
  }
  return {contextUrl: null, documentUrl: url, document: structuredClone(document)};
}

const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
const messages = error => {
  if(!error) {
    return [];
  }
  const errors = error.errors ?? [error];
  return errors.map(e => String(e.message ?? e));
};

const results = {};
for(const [name, credential] of Object.entries(input.credentials)) {
  const verification = await vc.verifyCredential({
    credential, suite, documentLoader, checkStatus: options => checkStatus(options)
  });
  const status = {};
  const statusResult = await checkStatus({credential, suite, documentLoader});
  for(const result of statusResult.results ?? []) {
    status[result.credentialStatus.statusPurpose] = result.status;
  }
  results[name] = {
    verified: verification.verified && statusResult.verified,
    errors: [...messages(verification.error), ...messages(statusResult.error),
      ...(verification.results ?? []).flatMap(r => messages(r.error))],
    status
  };
}
process.stdout.write(JSON.stringify(results));
