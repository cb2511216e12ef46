import streamlit as st

st.title("Grad-CAM viewer")
st.info("Upload an image and see the top predictions of a trained or pretrained network.\n\nGrad-CAM heatmaps for any class and any conv layer, with other attribution methods beside them.\n\n*Coming soon.*")
