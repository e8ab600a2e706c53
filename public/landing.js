// Landing page: "New room" makes an unguessable name (128 random bits) and goes there; the form
// joins a room by name.
const ID = /^[A-Za-z0-9_-]{1,64}$/;

function randomRoomName() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  // base64url without padding: 22 characters from the room-name alphabet.
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

document.getElementById("new-room").addEventListener("click", () => {
  location.assign(`/rooms/${randomRoomName()}`);
});

document.getElementById("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = document.getElementById("room-name").value.trim();
  if (ID.test(name)) location.assign(`/rooms/${encodeURIComponent(name)}`);
});
