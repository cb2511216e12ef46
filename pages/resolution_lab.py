import streamlit as st

st.title("Resolution lab")
st.info("Train on the original resolution and test on several (TOTV), against training and testing on each resolution (TVTV).\n\nAccuracy, precision and F1 per resolution and per class, side by side.\n\n*Coming soon.*")
