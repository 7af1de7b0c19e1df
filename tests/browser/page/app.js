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

whoami();
