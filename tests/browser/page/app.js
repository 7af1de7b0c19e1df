// A web app as a developer would write it with the official Web SDK: the browser's own cookies
// carry the session (CORS with credentials), nothing else.
const { Client, Account, OAuthProvider, ID } = Appwrite;
const client = new Client().setEndpoint(CONFIG.endpoint).setProject(CONFIG.project);
const account = new Account(client);
const show = (id, text) => { document.getElementById(id).textContent = text; };

async function whoami() {
  try {
    const user = await account.get();
    show('user', user.email);
  } catch (e) {
    show('user', `guest (${e.type})`);
  }
}

document.getElementById('oauth').onclick = () => {
  const here = window.location.origin;
  account.createOAuth2Session({
    provider: OAuthProvider.Oidc,
    success: `${here}/?signed-in`,
    failure: `${here}/?failed`,
  });
};

document.getElementById('logout').onclick = async () => {
  try {
    await account.deleteSession({ sessionId: 'current' });
    show('status', 'signed out');
  } catch (e) {
    show('status', `sign-out failed: ${e.type}`);
  }
  await whoami();
};

document.getElementById('login').onsubmit = async (event) => {
  event.preventDefault();
  const email = document.getElementById('email').value;
  const password = document.getElementById('password').value;
  try {
    await account.create({ userId: ID.unique(), email, password });
    await account.createEmailPasswordSession({ email, password });
    show('status', 'signed in');
  } catch (e) {
    show('status', `failed: ${e.type}`);
  }
  await whoami();
};

// Passkeys (our extension, docs/contract.md §6): the Web SDK has no passkey methods, so the
// page calls the routes with `client.call()` (the SDK's cookies; the project header, as the
// SDK's own services add it) and hands the
// options to the browser's own WebAuthn (`navigator.credentials`), in its JSON forms.
const api = (method, path, params = {}) => client.call(
  method, new URL(client.config.endpoint + path),
  { 'content-type': 'application/json', 'X-Appwrite-Project': client.config.project }, params,
);

document.getElementById('passkey-register').onclick = async () => {
  try {
    const challenge = await api('post', '/account/passkeys/registration');
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(challenge.options.publicKey);
    const credential = await navigator.credentials.create({ publicKey });
    const passkey = await api('put', '/account/passkeys/registration', {
      challengeId: challenge.$id, credential: credential.toJSON(), name: 'This browser',
    });
    show('status', `passkey registered: ${passkey.name}`);
  } catch (e) {
    show('status', `passkey registration failed: ${e.type ?? e.name} ${e.message}`);
  }
};

document.getElementById('passkey-sign-in').onclick = async () => {
  try {
    const challenge = await api('post', '/account/tokens/passkey');
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(challenge.options.publicKey);
    const credential = await navigator.credentials.get({ publicKey });
    const token = await api('put', '/account/tokens/passkey', {
      challengeId: challenge.$id, credential: credential.toJSON(),
    });
    // The token becomes a session as every other token does.
    await account.createSession({ userId: token.userId, secret: token.secret });
    show('status', 'signed in with a passkey');
  } catch (e) {
    show('status', `passkey sign-in failed: ${e.type ?? e.name} ${e.message}`);
  }
  await whoami();
};

whoami();
